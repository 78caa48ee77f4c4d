#!/usr/bin/env python3
"""Holds N idle keep-alive connections to an HTTP server for benchmarks/idle.sh.

Opens N connections to HOST:PORT, sends one GET /plaintext on each and reads its answer (so every connection is a
real keep-alive connection that Kestrel has served once), prints "ready N", then holds them until its standard
input closes, and closes them all. Connections are opened and answered in waves of 256, so that a select server,
whose every wait costs a pass over all its sockets, is not asked for 10,000 answers one at a time.

Usage: idle_clients.py HOST PORT N
Exit status: 0 after a clean close; 1 when a connection fails or an answer takes more than 60 s.
"""
import selectors
import socket
import sys
import time

WAVE = 256
REQUEST = b"GET /plaintext HTTP/1.1\r\nHost: idle\r\n\r\n"
ANSWER_END = b"Hello, World!"
TIMEOUT = 60.0


def open_wave(host, port, count):
    wave = []
    for _ in range(count):
        s = socket.create_connection((host, port), timeout=TIMEOUT)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(REQUEST)
        s.setblocking(False)
        wave.append(s)
    selector = selectors.DefaultSelector()
    received = {}
    for s in wave:
        selector.register(s, selectors.EVENT_READ)
        received[s] = b""
    deadline = time.monotonic() + TIMEOUT
    waiting = len(wave)
    while waiting:
        if time.monotonic() > deadline:
            sys.exit(f"idle_clients: {waiting} of {len(wave)} answers missing after {TIMEOUT:.0f} s")
        for key, _ in selector.select(timeout=1.0):
            s = key.fileobj
            data = s.recv(4096)
            if not data:
                sys.exit("idle_clients: the server closed a connection before answering")
            received[s] += data
            if ANSWER_END in received[s]:
                selector.unregister(s)
                waiting -= 1
    selector.close()
    return wave


def main():
    host, port, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    held = []
    while len(held) < total:
        held.extend(open_wave(host, port, min(WAVE, total - len(held))))
    print(f"ready {len(held)}", flush=True)
    sys.stdin.read()
    for s in held:
        s.close()


if __name__ == "__main__":
    main()
