#!/usr/bin/env python3
"""The hardening probe of issue #8, re-measured against a running agora on loopback.

  benchmarks/http/probe.py PORT PID [flood_connections]

1. Trailer flood: one chunked request whose trailer section grows by 60 KB fields, up to
   5,000 of them (300 MB); reports how much the server took before answering, its
   answer, and the server's RSS before and after.
2. Connection flood from 127.0.0.1 (keep-alive, one request each, then held), while
   another client, from 127.0.0.2, asks /healthz and a catalog route.
Prints a markdown table. Bounded loops only; nothing leaves loopback.
"""
import socket
import sys
import time


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def status_of(sock, timeout=5.0):
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    if not data.startswith(b"HTTP/1.1 "):
        return None
    return int(data.split(b" ")[1])


def get(port, path, source="127.0.0.1"):
    s = socket.socket()
    s.bind((source, 0))
    try:
        s.connect(("127.0.0.1", port))
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n".encode())
        return status_of(s)
    except OSError:
        return None
    finally:
        s.close()


def trailer_flood(port, pid):
    before = rss_mib(pid)
    s = socket.socket()
    s.connect(("127.0.0.1", port))
    s.sendall(b"POST /v1/products HTTP/1.1\r\nHost: probe\r\nContent-Type: application/json\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n")
    field = b"X-Trailer: " + b"t" * 60000 + b"\r\n"
    sent = 0
    peak = before
    t0 = time.monotonic()
    try:
        for i in range(5000):
            s.sendall(field)
            sent += len(field)
            if i % 100 == 0:
                peak = max(peak, rss_mib(pid))
    except OSError:
        pass
    took = time.monotonic() - t0
    answer = status_of(s, 2.0)
    s.close()
    peak = max(peak, rss_mib(pid))
    return before, peak, sent, took, answer


def connection_flood(port, count):
    held = []
    refused = 0
    for _ in range(count):
        s = socket.socket()
        try:
            s.connect(("127.0.0.1", port))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: probe\r\n\r\n")
            st = status_of(s)
        except OSError:
            st = None
        if st == 200:
            held.append(s)
        else:
            refused += 1
            s.close()
    health = get(port, "/healthz", "127.0.0.2")
    catalog = get(port, "/v1/products?limit=1", "127.0.0.2")
    same_health = get(port, "/healthz", "127.0.0.1")
    closed = 0
    for s in held:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        s.close()
    return len(held), refused, closed, health, catalog, same_health


def main():
    port, pid = int(sys.argv[1]), int(sys.argv[2])
    flood = int(sys.argv[3]) if len(sys.argv) > 3 else 1100
    before, peak, sent, took, answer = trailer_flood(port, pid)
    print("| probe | figure |")
    print("|---|---|")
    print(f"| trailer flood: bytes the client got in before the answer | {sent / 1e6:.2f} MB in {took:.2f} s |")
    print(f"| trailer flood: answer | {answer} |")
    print(f"| trailer flood: server RSS before → peak | {before:.0f} → {peak:.0f} MiB |")
    held, refused, closed, health, catalog, same = connection_flood(port, flood)
    print(f"| connection flood from 127.0.0.1: {flood} tried | {held} served, {refused} refused, "
          f"{closed} of the served closed by the server since |")
    print(f"| meanwhile from 127.0.0.2: /healthz, /v1/products | {health}, {catalog} |")
    print(f"| meanwhile from 127.0.0.1: /healthz | {same} |")


if __name__ == "__main__":
    main()
