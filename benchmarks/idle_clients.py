#!/usr/bin/env python3
"""Holds N idle keep-alive connections to an HTTP server for benchmarks/idle.sh.

Opens N connections to HOST:PORT, sends one GET /plaintext on each and reads its answer (so every connection is a
real keep-alive connection that Kestrel has served once), prints "ready N", then holds them until its standard
input closes, and closes them all. Connections are opened and answered in waves of 256, so that a select server,
whose every wait costs a pass over all its sockets, is not asked for 10,000 answers one at a time.

When its standard input closes, before closing the connections, it prints "floor FDS NONBLOCKING_US BLOCKING_US":
what poll(2) itself costs over its own N idle sockets plus one loopback connection that a second thread makes
readable, in CPU microseconds of the polling thread per call, with timeout 0 and blocking until woken. That is the
least any select-style wait over N sockets can cost on this machine, whoever makes it. It is measured after the
server's measurements, not before: measured before, it left the epoll server's p99 beside 10,000 idle connections
at 44-46 ms instead of 4-6 ms for the whole point (three runs each way; why is not known).

Usage: idle_clients.py HOST PORT N
Exit status: 0 after a clean close; 1 when a connection fails or an answer takes more than 60 s.
"""
import select
import selectors
import socket
import sys
import threading
import time

WAVE = 256
REQUEST = b"GET /plaintext HTTP/1.1\r\nHost: idle\r\n\r\n"
ANSWER_END = b"Hello, World!"
TIMEOUT = 60.0
FLOOR_CALLS = 200


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


def poll_floor(held):
    """CPU microseconds of one poll(2) over the held sockets plus one active one: (timeout 0, blocking until woken)."""
    listener = socket.create_server(("127.0.0.1", 0))
    pinger = socket.create_connection(listener.getsockname())
    active, _ = listener.accept()
    listener.close()
    for s in (pinger, active):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    poller = select.poll()
    for s in held:
        poller.register(s, select.POLLIN)
    poller.register(active, select.POLLIN)

    start = time.thread_time()
    for _ in range(FLOOR_CALLS):
        poller.poll(0)
    nonblocking = (time.thread_time() - start) * 1e6 / FLOOR_CALLS

    def ping():
        # One byte at a time, each sent after the poller answered the last: every blocking poll waits for it.
        for _ in range(FLOOR_CALLS):
            pinger.sendall(b"x")
            if not pinger.recv(1):
                return

    thread = threading.Thread(target=ping)
    thread.start()
    start = time.thread_time()
    for _ in range(FLOOR_CALLS):
        poller.poll()
        active.recv(1)
        active.sendall(b"x")
    blocking = (time.thread_time() - start) * 1e6 / FLOOR_CALLS
    thread.join()
    pinger.close()
    active.close()
    return len(held) + 1, nonblocking, blocking


def main():
    host, port, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    held = []
    while len(held) < total:
        held.extend(open_wave(host, port, min(WAVE, total - len(held))))
    print(f"ready {len(held)}", flush=True)
    sys.stdin.read()
    fds, nonblocking, blocking = poll_floor(held)
    print(f"floor {fds} {nonblocking:.1f} {blocking:.1f}", flush=True)
    for s in held:
        s.close()


if __name__ == "__main__":
    main()
