#!/usr/bin/env python3
"""POST /api/detect/batch over real HTTP against `face-service serve`.

    batch_test.py FACE_SERVICE SHARED_DIR

A batch of real photos of SHARED_DIR/eval/widerface-dev (read, never copied
into the repository) with a broken one among them (the first third of a
JPEG) and a text file: 200, one entry per photo in the form's order, named
by its filename; each good photo's faces exactly what /api/detect answers
for it alone, the broken one and the text their own 400 and 415 with a
detail. The query (max_faces) applies to every photo; more photos than
--max-batch is 413, a body that is no form 415, a bad query 422, all with a
JSON detail. The photos are counted in /metrics as detections, and the
batch's access-log line has photos, faces and photo_errors.

Standard library only (tests/server/service_harness.py); exit 77 (skipped)
without SHARED_DIR.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from service_harness import Server, request, skip  # noqa: E402

PHOTOS = [
    "eval/widerface-dev/images/0--Parade/0_Parade_Parade_0_429.jpg",
    "eval/widerface-dev/images/0--Parade/0_Parade_Parade_0_470.jpg",
    "eval/widerface-dev/images/0--Parade/0_Parade_Parade_0_164.jpg",
]
MAX_BATCH = 5
BOUNDARY = "batch-test-boundary"
FORM = f"multipart/form-data; boundary={BOUNDARY}"
QUERY = "confidence=0.8"


def multipart(parts):
    """(field, filename, bytes) parts as a multipart/form-data body."""
    out = b""
    for field, filename, data in parts:
        out += (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    binary, shared = sys.argv[1:]
    paths = [os.path.join(shared, p) for p in PHOTOS]
    for p in paths:
        if not os.path.isfile(p):
            skip(f"no {p} (../shared absent?)")
    photos = []
    for p in paths:
        with open(p, "rb") as f:
            photos.append((os.path.basename(p), f.read()))

    failures = []

    def check(ok, what, detail=""):
        print(f"{'ok  ' if ok else 'FAIL'} {what}")
        if not ok:
            failures.append(f"{what}: {detail}"[:600])

    def detail_of(reply):
        d = reply.detail()
        return d is not None

    server = Server(binary, ["--threads", "2", "--max-batch", str(MAX_BATCH)])
    try:
        server.start()
        alone = {}
        for name, data in photos:
            r = request(server.port, "POST", f"/api/detect?{QUERY}", data, {"Content-Type": "image/jpeg"})
            check(r.status == 200, f"/api/detect {name}: 200", repr(r))
            alone[name] = r.json() if r.status == 200 else None
        check(any(alone[n] for n in alone), "the photos have faces", str(alone))
        detections = server.metric("face_service_faces_per_photo_count")

        broken = photos[0][1][:len(photos[0][1]) // 3]
        parts = [("image", photos[0][0], photos[0][1]),
                 ("image", "broken.jpg", broken),
                 ("image", photos[1][0], photos[1][1]),
                 ("image", "notes.txt", b"not a photo at all"),
                 ("image", photos[2][0], photos[2][1])]
        r = request(server.port, "POST", f"/api/detect/batch?{QUERY}", multipart(parts), {"Content-Type": FORM})
        check(r.status == 200 and r.headers.get("content-type", "").startswith("application/json"),
              "a batch with a broken photo and a text file: 200 JSON", repr(r))
        entries = r.json() if r.status == 200 else []
        check(isinstance(entries, list) and [e.get("name") for e in entries] == [p[1] for p in parts],
              "one entry per photo, in order, named by its filename", str(entries)[:300])
        if len(entries) == len(parts):
            for (_, name, _), entry in zip(parts, entries):
                if name in alone:
                    check(entry.get("faces") == alone[name] and "error" not in entry,
                          f"{name}: the faces /api/detect gives it alone ({len(alone[name] or [])})", str(entry)[:300])
            for i, status in ((1, 400), (3, 415)):
                error = entries[i].get("error", {})
                check(error.get("status") == status and isinstance(error.get("detail"), str) and error["detail"]
                      and "faces" not in entries[i],
                      f"{parts[i][1]}: its own {status} with a detail", str(entries[i]))
        check(server.metric("face_service_faces_per_photo_count") == detections + 3,
              "the batch's three good photos are counted as detections")
        good_faces = sum(len(alone[n] or []) for n in alone)

        r = request(server.port, "POST", f"/api/detect/batch?{QUERY}&max_faces=1", multipart(parts),
                    {"Content-Type": FORM})
        check(r.status == 200 and all(len(e.get("faces", [])) <= 1 for e in r.json()),
              "max_faces=1 applies to every photo", repr(r))

        too_many = [("image", f"{i}.jpg", photos[0][1]) for i in range(MAX_BATCH + 1)]
        r = request(server.port, "POST", "/api/detect/batch", multipart(too_many), {"Content-Type": FORM})
        check(r.status == 413 and detail_of(r), f"{MAX_BATCH + 1} photos over --max-batch {MAX_BATCH}: 413", repr(r))
        r = request(server.port, "POST", "/api/detect/batch", photos[0][1], {"Content-Type": "image/jpeg"})
        check(r.status == 415 and detail_of(r), "a raw photo, not a form: 415", repr(r))
        r = request(server.port, "POST", "/api/detect/batch", multipart([("file", "a.jpg", photos[0][1])]),
                    {"Content-Type": FORM})
        check(r.status == 400 and detail_of(r), "a form without an image field: 400", repr(r))
        for query in ("max_faces=0", "min_face_size=4", "confidence=2", "mode=fast", "max_faces=1&max_faces=1"):
            r = request(server.port, "POST", f"/api/detect/batch?{query}", multipart(parts[:1]),
                        {"Content-Type": FORM})
            check(r.status == 422 and detail_of(r), f"?{query}: 422", repr(r))

        status = server.terminate()
        check(status == 0, "SIGTERM: exit 0", str(status))
        lines = []
        for line in server.log_tail(200).splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:
                pass
        batch_lines = [l for l in lines if l.get("route") == "/api/detect/batch" and l.get("status") == 200]
        check(batch_lines and batch_lines[0].get("photos") == 5 and batch_lines[0].get("photo_errors") == 2
              and batch_lines[0].get("faces") == good_faces,
              "the batch's access-log line: photos 5, photo_errors 2, faces of all photos",
              str(batch_lines[:1]))
    finally:
        if not server.alive() and server.proc is not None and server.proc.returncode not in (0, None):
            print(server.log_tail())
        server.close()

    if failures:
        print(f"\n{len(failures)} failures:")
        for f in failures:
            print(f"  {f}")
        return 1
    print("batch: every check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
