#!/usr/bin/env python3
"""Overload and shutdown under load, over real HTTP against `face-service serve`.

    burst_test.py FACE_SERVICE SHARED_DIR [--clients N] [--fast-ms MS] [--recover-s S]

1. Burst: N (default 200) connections at once, each POSTing a real
   1024x768 photo, against --threads 1 --max-queue 2. The request being
   served and the two waiting get 200; the rest get 503 with Retry-After
   and a JSON detail, each within --fast-ms (default 1000) of sending its
   head, and no connection fails (the server drains what a refused client
   still sends before closing, so no reset destroys a 503). The server's
   count of rejected requests (/metrics) is the 503s counted here. Then it
   recovers: /readyz 200 and a photo answered 200 within --recover-s
   (default 10).
2. SIGTERM under load: 6 clients in a closed loop against --threads 2
   --max-queue 4 (so nothing is refused for the queue); SIGTERM after 2 s.
   Every request begun before SIGTERM gets 200 (none is cut or reset), new
   connections are refused soon after, and the server exits 0 within its
   grace period, logging that every request finished.

Standard library only. Exit 77 (skipped) without SHARED_DIR.
"""

import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from service_harness import Server, request, skip  # noqa: E402

PHOTO = "eval/widerface-dev/images/0--Parade/0_Parade_Parade_0_429.jpg"


def percentile(values, p):
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def burst(binary, photo, clients, fast_ms, recover_s, failures):
    server = Server(binary, ["--threads", "1", "--max-queue", "2", "--access-log", "off"])
    try:
        server.start()
        replies = [None] * clients
        gate = threading.Barrier(clients)

        def client(i):
            gate.wait()
            replies[i] = request(server.port, "POST", "/api/detect", photo,
                                 headers={"Content-Type": "image/jpeg"}, timeout=300)

        began = time.monotonic()
        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - began

        ok = [r for r in replies if r.status == 200]
        busy = [r for r in replies if r.status == 503]
        other = [r for r in replies if r.status not in (200, 503)]
        busy_ms = [r.elapsed * 1000 for r in busy]
        ok_ms = [r.elapsed * 1000 for r in ok]
        print(f"burst: {clients} connections at once against --threads 1 --max-queue 2, {wall:.1f} s: "
              f"{len(ok)} x 200 (p50 {percentile(ok_ms, 50):.0f} ms, max {max(ok_ms, default=0):.0f} ms), "
              f"{len(busy)} x 503 (p50 {percentile(busy_ms, 50):.0f} ms, p99 {percentile(busy_ms, 99):.0f} ms, "
              f"max {max(busy_ms, default=0):.0f} ms), {len(other)} other")
        for r in other[:5]:
            print(f"  other: {r}")
        if other:
            failures.append(f"burst: {len(other)} replies neither 200 nor 503 (connection errors included)")
        if not ok:
            failures.append("burst: no request was served")
        if len(ok) > 3 + clients // 20:  # served one by one while the burst arrives: a few only
            failures.append(f"burst: {len(ok)} requests served, the queue should have refused most")
        for r in busy:
            if "retry-after" not in r.headers or r.detail() is None:
                failures.append(f"burst: a 503 without Retry-After or a JSON detail: {r} {r.headers}")
                break
        if busy and percentile(busy_ms, 99) > fast_ms:
            failures.append(f"burst: the 503s took {percentile(busy_ms, 99):.0f} ms at p99, over {fast_ms} ms")
        rejected = server.metric("face_service_queue_rejected_total")
        if rejected != len(busy):
            failures.append(f"burst: /metrics counts {rejected:.0f} rejected, the clients {len(busy)} 503s")

        # Recovery: at once for the probe, within a detection or two for a photo.
        t0 = time.monotonic()
        ready = request(server.port, "GET", "/readyz", timeout=recover_s)
        ready_ms = (time.monotonic() - t0) * 1000
        t0 = time.monotonic()
        after = request(server.port, "POST", "/api/detect", photo, headers={"Content-Type": "image/jpeg"},
                        timeout=recover_s)
        after_ms = (time.monotonic() - t0) * 1000
        print(f"burst: afterwards /readyz {ready.status} in {ready_ms:.0f} ms, a photo {after.status} in {after_ms:.0f} ms")
        if ready.status != 200 or after.status != 200:
            failures.append(f"burst: no recovery: /readyz {ready}, photo {after}")
        if not server.alive():
            failures.append("burst: the server died")
        status = server.terminate()
        if status != 0:
            failures.append(f"burst: exit status {status} after SIGTERM: {server.log_tail()}")
    finally:
        server.close()


def drain_under_load(binary, photo, failures):
    server = Server(binary, ["--threads", "2", "--max-queue", "4", "--grace-period", "20"])
    try:
        server.start()
        stop = threading.Event()
        records = []  # (began, ended, reply)
        lock = threading.Lock()

        def client():
            while not stop.is_set():
                began = time.monotonic()
                r = request(server.port, "POST", "/api/detect", photo, headers={"Content-Type": "image/jpeg"},
                            timeout=60)
                with lock:
                    records.append((began, time.monotonic(), r))
                if r.status == 0 and "refused" in r.error:
                    return  # the listening socket is closed: the server is going

        threads = [threading.Thread(target=client) for _ in range(6)]
        for t in threads:
            t.start()
        time.sleep(2)
        sigterm = time.monotonic()
        status = server.terminate(within=30)
        exited = time.monotonic()
        stop.set()
        for t in threads:
            t.join()

        before = [r for began, _, r in records if began < sigterm - 0.05]
        after = [r for began, _, r in records if began >= sigterm - 0.05]
        cut = [r for r in before if r.status != 200]
        refused_after = [r for r in after if r.status == 0]
        print(f"drain: 6 clients, SIGTERM after 2 s: {len(before)} requests begun before it "
              f"({len(before) - len(cut)} x 200, {len(cut)} not), {len(after)} after "
              f"({len(after) - len(refused_after)} answered, {len(refused_after)} refused or reset); "
              f"exit status {status} {1000 * (exited - sigterm):.0f} ms after SIGTERM")
        for r in cut[:5]:
            print(f"  cut: {r}")
        if cut:
            failures.append(f"drain: {len(cut)} requests begun before SIGTERM did not get 200")
        if status != 0:
            failures.append(f"drain: exit status {status}: {server.log_tail()}")
        elif '"msg":"stopped: every request finished"' not in server.log_tail(50):
            failures.append(f"drain: no 'stopped: every request finished' line: {server.log_tail()}")
        answered_after = [r for r in after if r.status != 0]
        if any(r.status != 200 for r in answered_after):
            failures.append(f"drain: a request after SIGTERM was answered {[r.status for r in answered_after]}")
    finally:
        server.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("binary")
    parser.add_argument("shared")
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--fast-ms", type=float, default=1000.0)
    parser.add_argument("--recover-s", type=float, default=10.0)
    args = parser.parse_args()
    path = os.path.join(args.shared, PHOTO)
    if not os.path.isfile(path):
        skip(f"no {path} (../shared absent?)")
    with open(path, "rb") as f:
        photo = f.read()
    failures = []
    burst(args.binary, photo, args.clients, args.fast_ms, args.recover_s, failures)
    drain_under_load(args.binary, photo, failures)
    if failures:
        print(f"\n{len(failures)} failures:")
        for f in failures:
            print(f"  {f}")
        return 1
    print("burst: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
