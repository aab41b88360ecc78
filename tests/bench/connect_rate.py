# SPDX-License-Identifier: MIT
"""Connections per second to IP:11111 (connect + close, for 2 s), from
CLIENTS processes at once. One client measures the round trip of a
handshake more than the server; four keep the server busy.
Usage: connect_rate.py IP CLIENTS"""
import socket, sys, time, multiprocessing as mp
ip, clients = sys.argv[1], int(sys.argv[2])
def run(q):
    n, end = 0, time.monotonic() + 2
    while time.monotonic() < end:
        s = socket.create_connection((ip, 11111), 2); s.close(); n += 1
    q.put(n)
if __name__ == "__main__":
    q = mp.Queue()
    ps = [mp.Process(target=run, args=(q,)) for _ in range(clients)]
    for p in ps: p.start()
    n = sum(q.get() for _ in ps)
    for p in ps: p.join()
    print(n / 2)
