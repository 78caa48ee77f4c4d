#!/usr/bin/env python3
"""One client's request latency, for benchmarks/idle.sh: COUNT sequential GET /plaintext on one keep-alive
connection to HOST:PORT, nothing else in flight from this client. Prints "median_ms p90_ms".

Usage: latency_probe.py HOST PORT COUNT
"""
import socket
import statistics
import sys
import time

REQUEST = b"GET /plaintext HTTP/1.1\r\nHost: probe\r\n\r\n"
ANSWER_END = b"Hello, World!"


def main():
    host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    s = socket.create_connection((host, port), timeout=30)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    times = []
    for _ in range(count):
        start = time.perf_counter()
        s.sendall(REQUEST)
        received = b""
        while ANSWER_END not in received:
            data = s.recv(4096)
            if not data:
                sys.exit("latency_probe: the server closed the connection")
            received += data
        times.append((time.perf_counter() - start) * 1000)
    s.close()
    times.sort()
    print(f"{statistics.median(times):.3f} {times[int(len(times) * 0.9)]:.3f}")


if __name__ == "__main__":
    main()
