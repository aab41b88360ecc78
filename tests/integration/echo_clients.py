# SPDX-License-Identifier: MIT
"""N concurrent connections to IP:7 (an echo server), each sending SIZE
random bytes and reading them back to EOF: exit 1 unless every byte of
every connection came back intact. WHAT names the check in its lines.
Usage: echo_clients.py IP N SIZE [WHAT]"""
import asyncio, os, sys
ip, N, SIZE = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
what = sys.argv[4] if len(sys.argv) > 4 else "echo"
errors = []
async def one(i):
    try:
        data = os.urandom(SIZE)
        try:
            r, w = await asyncio.wait_for(asyncio.open_connection(ip, 7), 30)
        except asyncio.TimeoutError:
            errors.append(f"conn {i}: connect timed out"); return
        async def send():
            w.write(data)
            await w.drain()
            w.write_eof()
        t = asyncio.create_task(send())
        try:
            got = await asyncio.wait_for(r.read(), 120)
        except asyncio.TimeoutError:
            errors.append(f"conn {i}: echo timed out"); return
        await t
        w.close()
        if got != data:
            errors.append(f"conn {i}: {len(got)} of {SIZE} bytes back, content differs")
    except Exception as e:
        errors.append(f"conn {i}: {e!r}")
async def main():
    await asyncio.gather(*(one(i) for i in range(N)))
asyncio.run(main())
if errors:
    print(f"FAIL: {what}: {len(errors)} of {N} connections", *errors[:10], sep="\n  "); sys.exit(1)
print(f"{what}: {N} concurrent connections x {SIZE} bytes intact")
