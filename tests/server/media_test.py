#!/usr/bin/env python3
"""POST /api/anonymize, POST /api/crops and /api/detect?crops=true over real
HTTP against `face-service serve`, on a real photo (server/media_routes.h).

    media_test.py FACE_SERVICE SHARED_DIR

- /api/anonymize on a WIDER FACE photo given an EXIF block with GPS tags:
  a JPEG of the same size (Content-Disposition anonymized.jpg, X-Face-Count
  the faces /api/detect finds), each face box changed well beyond JPEG's
  noise, the rest of the photo (outside the padded regions, with a 16-pixel
  margin for JPEG's blocks) nearly the same, and no APP1/EXIF segment or
  "Exif" anywhere; format=png, method=pixelate and method=solid (the face
  boxes black); a PNG stays PNG; the 422s of bad parameters, with JSON
  detail, before the photo is read; an empty body 400.
- /api/crops: a zip Python's zipfile reads (CRCs checked) with face-1.png ...
  face-N.png, N the faces of /api/detect, each a 112 x 112 PNG, and
  faces.json, those faces.
- /api/detect?crops=true: the same faces with "crop", base64 of the very
  bytes of the zip's PNGs; crops=false adds nothing; crops=maybe is 422.

Writes nothing, unless FACE_DOCS_OUT names a folder and FACE_DOCS_PHOTO a
photo whose licence allows showing it (WIDER FACE's does not): then that
photo, anonymised as JPEG, is checked the same way and saved there as
anonymized.jpg (the README's example).

Needs Debian's python3-pil. Exit 77 (skipped) without SHARED_DIR or Pillow.
"""

import base64
import io
import json
import os
import sys
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from service_harness import Server, debian_python_with, request, skip  # noqa: E402

PHOTO = "eval/widerface-dev/images/0--Parade/0_Parade_Parade_0_470.jpg"
JPEG_MARGIN = 16  # pixels past a region that JPEG's 16 x 16 chroma blocks may touch
# Padding of mtcnn/anonymize.h: fractions of the box's width and height.
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 0.25, 0.25, 0.50, 0.25

failures = []


def check(condition, what, detail=""):
    if condition:
        print(f"ok: {what}")
    else:
        print(f"FAIL: {what}{': ' + str(detail) if detail else ''}")
        failures.append(what)
    return condition


def with_exif_gps(jpeg):
    """An APP1 Exif segment with a GPS IFD (latitude 'N'), as a phone
    writes one, inserted after SOI."""
    tiff = (b"MM\x00\x2a\x00\x00\x00\x08" + b"\x00\x01"
            + b"\x88\x25\x00\x04\x00\x00\x00\x01\x00\x00\x00\x1a" + b"\x00\x00\x00\x00"
            + b"\x00\x01" + b"\x00\x01\x00\x02\x00\x00\x00\x02N\x00\x00\x00" + b"\x00\x00\x00\x00")
    payload = b"Exif\x00\x00" + tiff
    segment = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    return jpeg[:2] + segment + jpeg[2:]


def jpeg_markers(jpeg):
    """The segment markers from SOI up to SOS."""
    markers, pos = [], 2
    while pos + 4 <= len(jpeg) and jpeg[pos] == 0xFF:
        marker = jpeg[pos + 1]
        markers.append(marker)
        if marker == 0xDA:
            break
        pos += 2 + int.from_bytes(jpeg[pos + 2:pos + 4], "big")
    return markers


def padded(box, width, height, margin=0):
    x, y, w, h = box
    return (max(0, int(x - PAD_LEFT * w) - margin), max(0, int(y - PAD_TOP * h) - margin),
            min(width, int(x + w + PAD_RIGHT * w + 1) + margin), min(height, int(y + h + PAD_BOTTOM * h + 1) + margin))


def compare(Image, ImageChops, ImageDraw, ImageStat, original, result, faces, what, solid=False):
    """The result's faces changed, the rest nearly the same."""
    a = Image.open(io.BytesIO(original)).convert("RGB")
    b = Image.open(io.BytesIO(result)).convert("RGB")
    if not check(a.size == b.size, f"{what}: the same size as the photo", f"{a.size} vs {b.size}"):
        return
    diff = ImageChops.difference(a, b).convert("L")
    rest = Image.new("L", a.size, 255)
    draw = ImageDraw.Draw(rest)
    for f in faces:
        draw.rectangle(padded(f["box"], *a.size, JPEG_MARGIN), fill=0)
    rest_mean = ImageStat.Stat(diff, rest).mean[0]
    check(rest_mean < 2.5, f"{what}: outside the faces' regions nearly the same (mean difference {rest_mean:.2f})")
    changed = 0
    for f in faces:
        x, y, w, h = f["box"]
        box = (x, y, x + w, y + h)
        mean = ImageStat.Stat(diff.crop(box)).mean[0]
        if solid:
            darkest = max(ImageStat.Stat(b.crop(box).convert("L")).mean[0], 0)
            changed += darkest < 12
        else:
            changed += mean > max(3.0, 2 * rest_mean)
    check(changed == len(faces), f"{what}: every face box changed ({changed} of {len(faces)})")


def run(binary, photo_path):
    debian_python_with("PIL")
    from PIL import Image, ImageChops, ImageDraw, ImageStat

    with open(photo_path, "rb") as f:
        photo = with_exif_gps(f.read())
    server = Server(binary, ["--threads", "2", "--access-log", "off"])
    try:
        server.start()
        port = server.port
        jpeg = {"Content-Type": "image/jpeg"}

        detected = request(port, "POST", "/api/detect", photo, headers=jpeg)
        faces = detected.json()
        check(detected.status == 200 and len(faces) >= 3, f"/api/detect finds {len(faces)} faces in {PHOTO}")

        # Anonymised, as JPEG (the photo's format).
        r = request(port, "POST", "/api/anonymize", photo, headers=jpeg)
        check(r.status == 200 and r.headers.get("content-type") == "image/jpeg", "/api/anonymize answers image/jpeg",
              r)
        check(r.headers.get("content-disposition") == 'attachment; filename="anonymized.jpg"',
              "with Content-Disposition anonymized.jpg", r.headers.get("content-disposition"))
        check(r.headers.get("x-face-count") == str(len(faces)), "X-Face-Count is the faces /api/detect finds",
              r.headers.get("x-face-count"))
        check(r.headers.get("cache-control") == "no-store", "Cache-Control: no-store")
        check(r.body[:3] == b"\xff\xd8\xff", "the body is a JPEG")
        markers = jpeg_markers(r.body)
        check(0xE1 not in markers and b"Exif" not in r.body and b"Exif" in photo,
              "the photo's EXIF block with GPS is gone (no APP1 segment, no 'Exif')", [hex(m) for m in markers])
        compare(Image, ImageChops, ImageDraw, ImageStat, photo, r.body, faces, "gaussian")

        r = request(port, "POST", "/api/anonymize?method=pixelate&strength=0.3&format=png", photo, headers=jpeg)
        check(r.status == 200 and r.headers.get("content-type") == "image/png" and r.body[:8] == b"\x89PNG\r\n\x1a\n",
              "method=pixelate&format=png answers a PNG", r)
        check(r.headers.get("content-disposition") == 'attachment; filename="anonymized.png"',
              "named anonymized.png")
        compare(Image, ImageChops, ImageDraw, ImageStat, photo, r.body, faces, "pixelate")

        r = request(port, "POST", "/api/anonymize?method=solid", photo, headers=jpeg)
        check(r.status == 200, "method=solid answers 200", r)
        compare(Image, ImageChops, ImageDraw, ImageStat, photo, r.body, faces, "solid", solid=True)

        # A PNG stays a PNG; multipart works as for /api/detect.
        png = io.BytesIO()
        Image.open(io.BytesIO(photo)).save(png, "PNG")
        boundary = "media-test-boundary"
        form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; filename=\"p.png\"\r\n"
                f"Content-Type: image/png\r\n\r\n").encode() + png.getvalue() + f"\r\n--{boundary}--\r\n".encode()
        r = request(port, "POST", "/api/anonymize", form,
                    headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        check(r.status == 200 and r.headers.get("content-type") == "image/png",
              "a PNG sent as a multipart form comes back as a PNG", r)

        # Bad parameters: 422 with a JSON detail.
        for query, words in [("method=blur", "gaussian, pixelate, solid"), ("strength=0", "(0, 1]"),
                             ("strength=1.5", "(0, 1]"), ("strength=abc", "(0, 1]"), ("format=gif", "jpeg, png"),
                             ("method=solid&method=solid", "more than once"), ("confidence=2", "confidence"),
                             ("mode=fast", "modes")]:
            r = request(port, "POST", f"/api/anonymize?{query}", photo, headers=jpeg)
            check(r.status == 422 and words in (r.detail() or ""), f"/api/anonymize?{query}: 422 naming {words!r}",
                  r)
        r = request(port, "POST", "/api/anonymize", b"", headers=jpeg)
        check(r.status == 400 and r.detail(), "/api/anonymize with an empty body: 400", r)
        r = request(port, "POST", "/api/anonymize", b"not a photo at all", headers=jpeg)
        check(r.status == 415 and r.detail(), "/api/anonymize with text: 415", r)

        # Crops as a zip.
        r = request(port, "POST", "/api/crops", photo, headers=jpeg)
        check(r.status == 200 and r.headers.get("content-type") == "application/zip", "/api/crops answers a zip", r)
        check(r.headers.get("content-disposition") == 'attachment; filename="faces.zip"', "named faces.zip")
        archive = zipfile.ZipFile(io.BytesIO(r.body))
        check(archive.testzip() is None, "Python's zipfile reads it and every CRC-32 matches")
        names = archive.namelist()
        expected = [f"face-{i + 1}.png" for i in range(len(faces))] + ["faces.json"]
        check(names == expected, f"it holds face-1.png ... face-{len(faces)}.png and faces.json", names)
        check(json.loads(archive.read("faces.json")) == faces, "faces.json is /api/detect's answer")
        sizes = {Image.open(io.BytesIO(archive.read(n))).size for n in names if n.endswith(".png")}
        formats = {Image.open(io.BytesIO(archive.read(n))).format for n in names if n.endswith(".png")}
        check(sizes == {(112, 112)} and formats == {"PNG"}, "every crop is a 112 x 112 PNG", (sizes, formats))

        # Crops in the JSON.
        r = request(port, "POST", "/api/detect?crops=true", photo, headers=jpeg)
        with_crops = r.json()
        check(r.status == 200 and len(with_crops) == len(faces), "/api/detect?crops=true: the same faces", r)
        same = all({k: v for k, v in f.items() if k != "crop"} == g for f, g in zip(with_crops, faces))
        check(same, "each face as without crops, plus \"crop\"")
        crops_match = all(base64.b64decode(f["crop"], validate=True) == archive.read(f"face-{i + 1}.png")
                          for i, f in enumerate(with_crops))
        check(crops_match, "each \"crop\" is base64 of the zip's PNG of that face")
        r = request(port, "POST", "/api/detect?crops=false", photo, headers=jpeg)
        check(r.status == 200 and r.json() == faces, "crops=false adds nothing")
        r = request(port, "POST", "/api/detect?crops=maybe", photo, headers=jpeg)
        check(r.status == 422 and "true or false" in (r.detail() or ""), "crops=maybe: 422", r)

        docs_out, docs_photo = os.environ.get("FACE_DOCS_OUT"), os.environ.get("FACE_DOCS_PHOTO")
        if docs_out:
            if not check(bool(docs_photo), "FACE_DOCS_OUT needs FACE_DOCS_PHOTO, a photo whose licence allows it"):
                return
            with open(docs_photo, "rb") as f:
                shown = f.read()
            found = request(port, "POST", "/api/detect", shown, headers={"Content-Type": "image/octet-stream"}).json()
            r = request(port, "POST", "/api/anonymize?format=jpeg", shown,
                        headers={"Content-Type": "application/octet-stream"})
            check(r.status == 200 and len(found) >= 1 and r.body[:3] == b"\xff\xd8\xff",
                  f"{docs_photo}: {len(found)} faces anonymised as JPEG", r)
            compare(Image, ImageChops, ImageDraw, ImageStat, shown, r.body, found, "the README's example")
            os.makedirs(docs_out, exist_ok=True)
            target = os.path.join(docs_out, "anonymized.jpg")
            with open(target, "wb") as f:
                f.write(r.body)
            print(f"saved {target} ({len(r.body)} bytes)")
        check(server.alive(), "the server is still up")
    finally:
        server.close()


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    binary, shared = sys.argv[1], sys.argv[2]
    photo = os.path.join(shared, PHOTO)
    if not os.path.exists(photo):
        skip(f"no {photo}")
    run(binary, photo)
    if failures:
        print(f"{len(failures)} checks failed")
        sys.exit(1)
    print("media: all checks passed")


if __name__ == "__main__":
    main()
