#!/usr/bin/env python3
"""The disk's own fsync rate: append 512 bytes and fsync, N times (compare with `--sync full`)."""
import os, sys, tempfile, time
n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
directory = sys.argv[2] if len(sys.argv) > 2 else "."
fd, path = tempfile.mkstemp(dir=directory)
data = b"x" * 511 + b"\n"
start = time.perf_counter()
for _ in range(n):
    os.write(fd, data)
    os.fsync(fd)
elapsed = time.perf_counter() - start
os.close(fd)
os.unlink(path)
print(f"{n} appends with fsync in {elapsed:.3f} s: {n / elapsed:.0f}/s")
