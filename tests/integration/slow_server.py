# SPDX-License-Identifier: MIT
"""A slow kernel HTTP server on IP:9090 (a peer to make vanish
mid-transfer): one request, a 1 GB body at 1 KiB per 50 ms.
Usage: slow_server.py IP"""
import socket, time, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 9090)); s.listen(4)
c, _ = s.accept(); c.recv(4096)
c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n")
while True:
    c.sendall(b"x" * 1024); time.sleep(0.05)
