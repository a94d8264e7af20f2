#!/usr/bin/env python3
"""`face-service detect FOLDER --out FILE` on real photos (server/batch_cli.h).

A few WIDER FACE photos from ../shared/eval are copied into a temporary
folder (never into the repository), with a broken photo and a text file:
- the results file is complete: one line per photo, in name order, the
  broken photo an error line, the text file left out;
- a second run skips every photo and leaves the file as it was;
- resuming with another --mode is refused, the file left as it was;
- a run killed in the middle, its last line then cut, resumes to the same
  file, byte for byte;
- --server against a `face-service serve` started here gives the same faces;
- a folder without --out prints today's {"faces": ..., "photo": ...} lines;
- `anonymize FOLDER --out FOLDER2` writes every readable photo under its
  relative path, and a run again skips them.

Arguments: BINARY SHARED_DIR. Exit 77 (skipped) without the photos.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

# 10, or FACE_BATCH_TEST_PHOTOS (at least 4): fewer under the sanitizers,
# where a photo takes ten times as long.
PHOTOS = max(4, int(os.environ.get("FACE_BATCH_TEST_PHOTOS", "10")))


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def lines_of(path):
    with open(path, "rb") as f:
        return [json.loads(line) for line in f.read().splitlines()]


def read(path):
    with open(path, "rb") as f:
        return f.read()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    binary, shared = sys.argv[1], sys.argv[2]
    images = os.path.join(shared, "eval", "widerface-dev", "images")
    if not os.path.isdir(images):
        print("skipped: no " + images)
        return 77
    sources = sorted(os.path.join(root, name) for root, _, names in os.walk(images) for name in names
                     if name.endswith(".jpg"))[:PHOTOS]
    if len(sources) < PHOTOS:
        print("skipped: fewer than %d photos in %s" % (PHOTOS, images))
        return 77

    tmp = tempfile.mkdtemp(prefix="batch_test.")
    server = None
    try:
        photos = os.path.join(tmp, "photos")
        expected = []
        for i, source in enumerate(sources):
            # Two levels, and upper-case extensions: the walk takes both.
            sub = os.path.join(photos, "set%d" % (i % 2), os.path.basename(os.path.dirname(source)))
            os.makedirs(sub, exist_ok=True)
            name = os.path.basename(source)
            if i == 3:
                name = name[:-4] + ".JPG"
            shutil.copy(source, os.path.join(sub, name))
            expected.append(os.path.join(sub, name))
        with open(os.path.join(photos, "broken.jpg"), "w") as f:
            f.write("not a photo")
        with open(os.path.join(photos, "notes.txt"), "w") as f:
            f.write("not a photo either")
        expected.append(os.path.join(photos, "broken.jpg"))

        def walk_order(path):  # each folder's names in byte order, depth first
            return [part.encode() for part in os.path.relpath(path, photos).split(os.sep)]
        expected.sort(key=walk_order)

        def detect(out, *extra):
            return subprocess.run([binary, "detect", photos, "--out", out, *extra],
                                  capture_output=True, text=True, timeout=300)

        # A complete results file.
        first = os.path.join(tmp, "first.jsonl")
        run = detect(first)
        if run.returncode != 1:
            fail("expected exit 1 for the broken photo, got %d: %s" % (run.returncode, run.stderr))
        results = lines_of(first)
        if [r["photo"] for r in results] != expected:
            fail("not every photo once, in order:\n%s\nexpected\n%s" % ([r["photo"] for r in results], expected))
        for r in results:
            if r["photo"].endswith("broken.jpg"):
                if "error" not in r or "faces" in r:
                    fail("the broken photo is not an error line: %s" % r)
            elif not isinstance(r.get("faces"), list) or "error" in r:
                fail("not a faces line: %s" % r)
        if sum(len(r.get("faces", [])) for r in results) == 0:
            fail("no face in %d WIDER FACE photos" % PHOTOS)
        if "photos done" not in run.stderr:
            fail("no summary on stderr: %s" % run.stderr)
        print("ok: %d lines, %d faces" % (len(results), sum(len(r.get("faces", [])) for r in results)))

        # Again: every photo skipped, the file untouched.
        before = read(first)
        began = time.monotonic()
        again = detect(first)
        if again.returncode != 0:
            fail("the second run exited %d: %s" % (again.returncode, again.stderr))
        if read(first) != before:
            fail("the second run changed the file")
        if "%d of %d photos already there" % (len(expected), len(expected)) not in again.stderr:
            fail("the second run did not say it skipped everything: %s" % again.stderr)
        print("ok: the second run skipped all in %.2f s" % (time.monotonic() - began))

        # Resuming with other parameters: refused, the file untouched.
        with open(first, "r+b") as f:
            f.truncate(before.rindex(b"\n", 0, len(before) - 1) + 1)  # the last photo left to do
        shorter = read(first)
        other = detect(first, "--mode", "faithful")
        if other.returncode != 1 or "this run asks for" not in other.stderr or read(first) != shorter:
            fail("resuming with another --mode: exit %d, %s" % (other.returncode, other.stderr))
        detect(first)
        if read(first) != before:
            fail("resuming with the same parameters did not give the same file")
        print("ok: resuming with another --mode is refused: " + other.stderr.strip().splitlines()[-1])

        # Killed in the middle, a partial line left: resumed to the same file.
        killed = os.path.join(tmp, "killed.jsonl")
        process = subprocess.Popen([binary, "detect", photos, "--out", killed],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if os.path.exists(killed) and read(killed).count(b"\n") >= 2:
                break
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait()
        done = read(killed).count(b"\n")
        if read(killed).endswith(b"\n") and done < len(expected):
            with open(killed, "ab") as f:
                f.write(b'{"photo":"' + expected[done].encode() + b'","faces":[{"box":[1,')  # a write cut short
        elif done >= len(expected):
            print("note: the run finished before it was killed")
        cut = not read(killed).endswith(b"\n")
        resumed = detect(killed)
        if resumed.returncode not in (0, 1):  # 1 when the broken photo is among those left
            fail("the resumed run exited %d: %s" % (resumed.returncode, resumed.stderr))
        if cut and "partial last line was cut off" not in resumed.stderr:
            fail("the resumed run did not report the cut line: %s" % resumed.stderr)
        if read(killed) != before:
            fail("killed after %d lines and resumed: not the same file" % done)
        print("ok: killed after %d of %d lines, resumed to the same file" % (done, len(expected)))

        # Through a running service.
        port = free_port()
        server = subprocess.Popen([binary, "serve", "--host", "127.0.0.1", "--port", str(port), "--threads", "2",
                                   "--access-log", "off"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = "http://127.0.0.1:%d" % port
        for _ in range(300):
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=1) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None:
                fail("serve exited %d" % server.returncode)
            time.sleep(0.1)
        remote = os.path.join(tmp, "remote.jsonl")
        run = detect(remote, "--server", url, "--concurrency", "3")
        if run.returncode != 1:
            fail("--server exited %d: %s" % (run.returncode, run.stderr))
        for here, there in zip(results, lines_of(remote), strict=True):
            if here["photo"] != there["photo"] or here.get("faces") != there.get("faces") or \
                    ("error" in here) != ("error" in there):
                fail("--server differs:\n%s\n%s" % (here, there))
        print("ok: --server gave the same %d lines" % len(results))

        # No --out: today's lines on stdout.
        printed = subprocess.run([binary, "detect", os.path.join(photos, "set0")], capture_output=True, text=True,
                                 timeout=300)
        lines = [json.loads(line) for line in printed.stdout.splitlines()]
        if printed.returncode != 0 or not lines or not printed.stdout.startswith('{"faces":['):
            fail("a folder without --out: exit %d: %s %s" % (printed.returncode, printed.stdout, printed.stderr))
        if [line["faces"] for line in lines] != [r["faces"] for r in results if "/set0/" in r["photo"]]:
            fail("a folder without --out gave other faces")
        print("ok: a folder without --out prints %d lines" % len(lines))

        # anonymize: every readable photo under its relative path, whole; a run again writes nothing.
        blurred = os.path.join(tmp, "blurred")
        run = subprocess.run([binary, "anonymize", photos, "--out", blurred], capture_output=True, text=True,
                             timeout=300)
        if run.returncode != 1 or "broken.jpg" not in run.stderr:
            fail("anonymize: exit %d, expected 1 naming broken.jpg: %s" % (run.returncode, run.stderr))
        written = sorted(os.path.relpath(os.path.join(root, name), blurred)
                         for root, _, names in os.walk(blurred) for name in names
                         if name != ".face-service-anonymize.json")  # the parameters' record
        wanted = sorted(os.path.relpath(p, photos) for p in expected if not p.endswith("broken.jpg"))
        if written != wanted:
            fail("anonymize wrote %s, expected %s" % (written, wanted))
        for name in written:
            with open(os.path.join(blurred, name), "rb") as f:
                head = f.read(4)
            if head[:3] != b"\xff\xd8\xff":
                fail("anonymize: %s is not a JPEG" % name)
            if read(os.path.join(blurred, name)) == read(os.path.join(photos, name)):
                fail("anonymize: %s is the original" % name)
        again = subprocess.run([binary, "anonymize", photos, "--out", blurred], capture_output=True, text=True,
                               timeout=300)
        if "%d of %d photos written already" % (len(wanted), len(wanted) + 1) not in again.stderr:
            fail("anonymize again did not skip the photos written: %s" % again.stderr)
        print("ok: anonymize wrote %d photos, and skipped them all when run again" % len(written))
        return 0
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
