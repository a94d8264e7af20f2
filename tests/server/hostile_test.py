#!/usr/bin/env python3
"""Hostile input over real HTTP against `face-service serve`.

    hostile_test.py FACE_SERVICE SHARED_DIR [--rss-bound MIB] [--fast-ms MS] [--markdown]

Every input is made at test time, from one real photo of
SHARED_DIR/eval/widerface-dev (read, never copied into the repository) or
by code: bodies that are no photo, truncated and corrupt JPEG/PNG/GIF/BMP,
a corrupt Huffman table, progressive, arithmetic-coded, grey and CMYK
JPEGs, grey/16-bit/palette/alpha PNGs, an animated GIF, decompression
bombs and headers that declare huge sizes, 1x1 photos, the eight EXIF
orientations and malformed EXIF blocks, bodies over the limit (Content-
Length, chunked, lying), bad query values, and broken multipart forms.

Each case must get the status server/service.h documents, with a JSON
{"detail": string} on errors; after every case the process must still run
and answer /healthz. A valid photo must give the faces of the plain RGB
photo it was made from: exactly the same answer when the pixels are the
same (a lossless JPEG transcode, alpha, 16 bits), else the same confident
faces by IoU (the EXIF orientations: the service answers in the upright
photo's coordinates). Resident memory (VmRSS) after the suite must be
within --rss-bound MiB (default 40; 0: report only, for sanitizer builds,
whose allocator keeps freed memory in quarantine) of its level after a
warm-up, and SIGTERM must end the server with status 0 (under
LeakSanitizer: no leak).

A second server has --request-timeout 0.05: a real photo and a bomb
under the pixel limit get 503 within about the limit, then a small photo
200.

--fast-ms (default 1000): what the answers decided from the head or the
photo's header (413, 415) may take at most. --markdown prints the table of
tests/server/HOSTILE.md; --passes N runs every case N times, printing VmRSS
after each pass; HOSTILE_RSS_TRACE=1 prints VmRSS after every case.

Needs Debian's python3-pil and libjpeg-turbo-progs (jpegtran); exit 77
(skipped) without them or without SHARED_DIR.
"""

import argparse
import io
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from service_harness import Server, debian_python_with, request, skip  # noqa: E402

debian_python_with("PIL")
from PIL import Image, ImageOps  # noqa: E402

# Three easy faces of 94-116 px at 1024x768; at the suite's 512x384, 47-58 px.
PHOTO = "eval/widerface-dev/images/0--Parade/0_Parade_Parade_0_429.jpg"
SIZE = (512, 384)  # multiples of 16: jpegtran transforms 4:2:0 JPEGs exactly
MAX_BODY = 4 << 20
MAX_PIXELS = 4_000_000
DETECT = "/api/detect?confidence=0.8"
TIME_LIMIT = 0.05  # seconds: --request-timeout of the second server
CONFIDENT = 0.97  # faces compared by IoU
MIN_IOU = 0.6


# ---------------------------------------------------------------------------
# Inputs made by code.

def png(width, height, color_type, bit_depth, rows=None, palette=None, idat=None, iend=True):
    """A PNG: `rows` are raw scanlines without filter bytes (filter 0 is
    added), or `idat` the compressed data as is."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0))
    if palette is not None:
        out += chunk(b"PLTE", palette)
    if idat is None:
        idat = zlib.compress(b"".join(b"\x00" + r for r in rows), 9)
    out += chunk(b"IDAT", idat)
    return out + (chunk(b"IEND", b"") if iend else b"")


def zeros_deflated(raw_size, piece=1 << 20):
    """zlib data of `raw_size` zero bytes, made piece by piece."""
    z = zlib.compressobj(9)
    out = []
    zero = bytes(piece)
    left = raw_size
    while left > 0:
        out.append(z.compress(zero[:min(piece, left)]))
        left -= piece
    out.append(z.flush())
    return b"".join(out)


def saved(image, fmt, **options):
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


def jpeg_segments(jpeg):
    """(marker, offset of the marker, payload start, payload end) up to SOS."""
    out = []
    pos = 2
    while pos + 4 <= len(jpeg) and jpeg[pos] == 0xFF:
        marker = jpeg[pos + 1]
        length = struct.unpack(">H", jpeg[pos + 2:pos + 4])[0]
        out.append((marker, pos, pos + 4, pos + 2 + length))
        if marker == 0xDA:
            break
        pos += 2 + length
    return out


def with_sof_size(jpeg, width, height):
    for marker, _, start, _ in jpeg_segments(jpeg):
        if marker in (0xC0, 0xC1, 0xC2):
            b = bytearray(jpeg)
            b[start + 1:start + 5] = struct.pack(">HH", height, width)
            return bytes(b)
    raise ValueError("no SOF")


def first_dht(jpeg, table_class):
    """(payload start, end) of the first DHT segment whose first table has
    class `table_class` (0: DC, 1: AC)."""
    for marker, _, start, end in jpeg_segments(jpeg):
        if marker == 0xC4 and jpeg[start] >> 4 == table_class:
            return start, end
    raise ValueError("no DHT")


def with_app1(jpeg, payload):
    """`jpeg` with an APP1 segment holding `payload` right after SOI."""
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def tiff_ifd0(entries, little=True, magic=42, ifd_offset=8, count=None):
    """A TIFF header and IFD0 of (tag, type, count, value bytes) entries."""
    e = "<" if little else ">"
    out = (b"II" if little else b"MM") + struct.pack(e + "HI", magic, ifd_offset)
    out += struct.pack(e + "H", len(entries) if count is None else count)
    for tag, kind, n, value in entries:
        out += struct.pack(e + "HHI", tag, kind, n) + value.ljust(4, b"\0")
    return out + struct.pack(e + "I", 0)


def orientation_exif(o, little=True):
    e = "<" if little else ">"
    return b"Exif\0\0" + tiff_ifd0([(0x0112, 3, 1, struct.pack(e + "H", o))], little)


# How the stored photo is made from the upright one for each orientation,
# so that applying the orientation gives the upright photo back (Exif 2.2,
# 4.6.4: 6 means "rotate 90 clockwise to view", so it is stored rotated 90
# counter-clockwise).
JPEGTRAN_FOR_ORIENTATION = {
    1: [], 2: ["-flip", "horizontal"], 3: ["-rotate", "180"], 4: ["-flip", "vertical"],
    5: ["-transpose"], 6: ["-rotate", "270"], 7: ["-transverse"], 8: ["-rotate", "90"],
}


def jpegtran(jpeg, args, tmp):
    src, dst = os.path.join(tmp, "in.jpg"), os.path.join(tmp, "out.jpg")
    with open(src, "wb") as f:
        f.write(jpeg)
    subprocess.run(["jpegtran", "-copy", "none", "-perfect"] + args + ["-outfile", dst, src], check=True)
    with open(dst, "rb") as f:
        return f.read()


def pixels_close(a, b):
    """Mean absolute difference of two RGB images of the same size, per value."""
    if a.size != b.size:
        return float("inf")
    da, db = a.convert("RGB").tobytes(), b.convert("RGB").tobytes()
    step = 7  # a sample is enough
    return sum(abs(da[i] - db[i]) for i in range(0, len(da), step)) / (len(da) / step)


# ---------------------------------------------------------------------------
# Checks.

def iou(a, b):
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = min(ax + aw, bx + bw) - max(ax, bx)
    h = min(ay + ah, by + bh) - max(ay, by)
    inter = max(0, w) * max(0, h)
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def same_faces(got, want):
    """'' when every confident face of each answer has a match (IoU >=
    MIN_IOU) in the other, else what is missing."""
    def missing(xs, ys):
        return [x["box"] for x in xs if x["confidence"] >= CONFIDENT
                and not any(iou(x["box"], y["box"]) >= MIN_IOU for y in ys)]
    m1, m2 = missing(want, got), missing(got, want)
    if m1 or m2:
        return f"faces differ: expected faces {m1} not found, found {m2} not expected"
    return ""


class Suite:
    def __init__(self, server, fast_ms):
        self.server = server
        self.fast_ms = fast_ms
        self.rows = []      # (group, case, expected, status, ms, note)
        self.failures = []

    def case(self, group, name, expect, reply, want=None, exact=None, fast=False, faces=None, note="",
             slow_ms=None):
        """expect: the status. want: an answer whose confident faces must be
        found (same_faces); exact: an answer that must be identical; faces:
        the least number of faces; fast: decided within --fast-ms; slow_ms:
        within that many ms."""
        problems = []
        if reply.status != expect:
            problems.append(f"expected {expect}, got {reply.status} {reply.body[:200]!r} {reply.error}")
        elif expect >= 400:
            if reply.detail() is None:
                problems.append(f"no JSON detail: {reply.headers.get('content-type')} {reply.body[:200]!r}")
            if expect in (413, 503) and reply.status == 503 and "retry-after" not in reply.headers:
                problems.append("503 without Retry-After")
        else:
            try:
                answer = reply.json()
            except ValueError:
                answer = None
                problems.append(f"not JSON: {reply.body[:200]!r}")
            if answer is not None:
                if exact is not None and answer != exact:
                    problems.append(f"answer differs: {answer} != {exact}")
                if want is not None and (why := same_faces(answer, want)):
                    problems.append(why)
                if faces is not None and len(answer) < faces:
                    problems.append(f"expected at least {faces} faces, got {len(answer)}")
        ms = reply.elapsed * 1000
        if fast and ms > self.fast_ms:
            problems.append(f"took {ms:.0f} ms, more than {self.fast_ms} ms")
        if slow_ms is not None and ms > slow_ms:
            problems.append(f"took {ms:.0f} ms, more than {slow_ms} ms")
        if not self.server.alive():
            problems.append(f"the server died (status {self.server.proc.returncode}): {self.server.log_tail()}")
        elif request(self.server.port, "GET", "/healthz", timeout=10).status != 200:
            problems.append("/healthz did not answer 200 afterwards")
        detail = reply.detail() or ""
        if reply.status == 200 and expect == 200:
            try:
                detail = f"{len(reply.json())} faces"
            except ValueError:
                pass
        self.rows.append((group, name, expect, reply.status, ms, note or detail))
        if os.environ.get("HOSTILE_RSS_TRACE"):
            detail = f"[VmRSS {self.server.rss_mib():.1f} MiB] {detail}"
        mark = "ok  " if not problems else "FAIL"
        print(f"{mark} {group}: {name}: {reply.status} in {ms:.0f} ms {('- ' + detail[:90]) if detail else ''}")
        for p in problems:
            print(f"     {p}")
            self.failures.append(f"{group}: {name}: {p}")
        if not self.server.alive():
            raise SystemExit(1)

    def post(self, body, target=DETECT, content_type="image/jpeg", **kw):
        headers = dict(kw.pop("headers", {}))
        if content_type:
            headers.setdefault("Content-Type", content_type)
        return request(self.server.port, "POST", target, body, headers=headers, **kw)


def multipart(fields, boundary="hostile-boundary", closing=True):
    out = b""
    for name, data in fields:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"x\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    return out + (f"--{boundary}--\r\n".encode() if closing else b"")


def run_cases(s, args, tmp, jpeg, decoded, rgb_png):
    """Every case once, in order; the results go to s."""
    width, height = decoded.size
    noise = random.Random(1)  # the same "random" bytes every run
    ref = s.post(jpeg)
    s.case("valid", "baseline JPEG 512x384 (the reference)", 200, ref, faces=2)
    reference = ref.json()
    s.case("valid", "RGB PNG of the same pixels", 200, s.post(rgb_png), exact=reference)

    # -- Not a photo, with Content-Type image/jpeg: 415.
    s.case("not a photo", "empty body, Content-Length: 0", 400, s.post(b""))
    s.case("not a photo", "no body, no Content-Length", 400, s.post(b"", content_length=False))
    zbuf = io.BytesIO()
    with zipfile.ZipFile(zbuf, "w") as z:
        z.writestr("photo.jpg", jpeg)
    for name, body in [
        ("text", b"hello, this is not a photo\n"),
        ("HTML", b"<!DOCTYPE html><html><body><img src=x onerror=alert(1)></body></html>"),
        ("PDF", b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"),
        ("zip holding the JPEG", zbuf.getvalue()),
        ("ELF executable", open(args.binary, "rb").read(4096)),
        ("one NUL byte", b"\0"),
        ("JPEG magic cut to 2 bytes", b"\xff\xd8"),
        ("TIFF (not accepted)", b"II*\0" + bytes(64)),
        ("WebP (not accepted)", b"RIFF\x24\0\0\0WEBPVP8 " + bytes(32)),
    ]:
        s.case("not a photo", f"{name}", 415, s.post(body), fast=True)

    # -- Magic bytes of an accepted format, garbage after: 400.
    for name, body in [("JPEG", b"\xff\xd8\xff" + noise.randbytes(2000)), ("PNG", b"\x89PNG\r\n\x1a\n" + noise.randbytes(2000)),
                       ("GIF", b"GIF89a\x0a\0\x0a\0" + noise.randbytes(2000)), ("BMP", b"BM" + bytes(12) + noise.randbytes(2000))]:
        s.case("corrupt", f"{name} magic, random bytes after", 400, s.post(body), fast=True)

    # -- Truncated: 400 wherever the cut is.
    for cut in (3, 100, len(jpeg) // 2, len(jpeg) - 2):
        s.case("truncated", f"JPEG cut to {cut} of {len(jpeg)} bytes", 400, s.post(jpeg[:cut]))
    headers_only = jpeg[:jpeg_segments(jpeg)[-1][3]]
    s.case("truncated", "JPEG headers up to SOS, no scan data", 400, s.post(headers_only))
    for cut in (8, 33, len(rgb_png) // 2, len(rgb_png) - 12):
        s.case("truncated", f"PNG cut to {cut} of {len(rgb_png)} bytes", 400, s.post(rgb_png[:cut]))
    gif = saved(decoded.quantize(256), "GIF")
    s.case("truncated", f"GIF cut to {len(gif) // 2} of {len(gif)} bytes", 400, s.post(gif[:len(gif) // 2]))
    bmp = saved(decoded, "BMP")
    s.case("truncated", f"BMP cut to {len(bmp) // 2} of {len(bmp)} bytes", 400, s.post(bmp[:len(bmp) // 2]))

    # -- Corrupt Huffman tables: refused as corrupt (libjpeg checks a
    # table when it is read or first used); corrupt entropy-coded data is
    # decoded through (mtcnn/image.h).
    start, end = first_dht(jpeg, 0)
    b = bytearray(jpeg)
    b[start + 16] = 200  # 16-bit codes: the counts add up past 256 and past the segment
    s.case("corrupt", "JPEG DHT: code counts over 256", 400, s.post(bytes(b)))
    b = bytearray(jpeg)
    b[start + 1] = 3  # three 1-bit codes: the code space overflows
    s.case("corrupt", "JPEG DHT: more 1-bit codes than exist", 400, s.post(bytes(b)))
    b = bytearray(jpeg)
    b[start + 17] = 0x7F  # a DC symbol (a bit count) above 15
    s.case("corrupt", "JPEG DHT: DC symbol 127", 400, s.post(bytes(b)))
    ac_start, ac_end = first_dht(jpeg, 1)
    b = bytearray(jpeg)
    b[ac_start + 17:ac_end] = bytes(reversed(b[ac_start + 17:ac_end]))  # a valid table, wrong symbols
    s.case("corrupt", "JPEG DHT: AC symbols permuted (valid table)", 200, s.post(bytes(b)),
           note="decoded through: garbage pixels")
    sos_end = jpeg_segments(jpeg)[-1][3]
    b = bytearray(jpeg)
    for i in range(sos_end + 500, len(b) - 2000, 997):
        if 0xFF not in b[i - 1:i + 2]:  # no marker made or unmade
            b[i] ^= 0x5A
    s.case("corrupt", "JPEG scan data with damaged bytes (no marker made)", 200, s.post(bytes(b)),
           note="decoded through, as OpenCV did")
    b = bytearray(jpeg)
    b[sos_end + 5000:sos_end + 5002] = b"\xff\x5a"
    s.case("corrupt", "JPEG scan data holding an unknown marker", 400, s.post(bytes(b)))

    # -- JPEG variants: the same coefficients losslessly re-coded give the
    # same pixels, so the same answer.
    s.case("valid", "progressive JPEG (jpegtran -progressive)", 200,
           s.post(jpegtran(jpeg, ["-progressive"], tmp)), exact=reference)
    s.case("valid", "arithmetic-coded JPEG (jpegtran -arithmetic)", 200,
           s.post(jpegtran(jpeg, ["-arithmetic"], tmp)), exact=reference)
    s.case("valid", "progressive + arithmetic JPEG", 200,
           s.post(jpegtran(jpeg, ["-progressive", "-arithmetic"], tmp)), exact=reference)
    s.case("valid", "optimised Huffman + restart markers", 200,
           s.post(jpegtran(jpeg, ["-optimize", "-restart", "2"], tmp)), exact=reference)
    s.case("valid", "grey JPEG", 200, s.post(saved(decoded.convert("L"), "JPEG", quality=92)), want=reference)
    cmyk = saved(decoded.convert("CMYK"), "JPEG", quality=92)  # Adobe APP14, inverted CMYK (Photoshop's)
    s.case("valid", "CMYK JPEG (Adobe, as Photoshop writes it)", 200, s.post(cmyk), want=reference,
           note="decoded, converted to RGB")
    s.case("valid", "4:4:4 JPEG", 200, s.post(saved(decoded, "JPEG", quality=92, subsampling=0)), want=reference)

    # -- PNG kinds: alpha is dropped and 16 bits keep their high byte, so
    # those give the RGB answer exactly.
    raw = decoded.tobytes()
    rows = [raw[y * width * 3:(y + 1) * width * 3] for y in range(height)]
    rgba = [bytes(v for x in range(width) for v in (*r[3 * x:3 * x + 3], (x * 255) // width)) for r in rows]
    s.case("valid", "RGBA PNG (alpha a gradient)", 200, s.post(png(width, height, 6, 8, rgba)), exact=reference)
    rgb16 = [bytes(v for c in r for v in (c, 0xA5)) for r in rows]
    s.case("valid", "16-bit RGB PNG", 200, s.post(png(width, height, 2, 16, rgb16)), exact=reference)
    grey = decoded.convert("L")
    s.case("valid", "grey PNG", 200, s.post(saved(grey, "PNG")), want=reference)
    grey_rows = [grey.tobytes()[y * width:(y + 1) * width] for y in range(height)]
    grey16a = [bytes(v for c in r for v in (c, 0x33, 0xFF, 0x00)) for r in grey_rows]
    s.case("valid", "16-bit grey + alpha PNG", 200, s.post(png(width, height, 4, 16, grey16a)), want=reference)
    s.case("valid", "palette PNG (256 colours)", 200, s.post(saved(decoded.quantize(256), "PNG")), want=reference)
    s.case("valid", "BMP", 200, s.post(bmp, content_type="image/bmp"), exact=reference)

    # -- GIF: the first frame only.
    first = decoded.quantize(256)
    black = Image.new("RGB", decoded.size).quantize(256)
    single = s.post(saved(first, "GIF"), content_type="image/gif")
    s.case("valid", "GIF (one frame)", 200, single, want=reference)
    s.case("valid", "animated GIF: the photo, then black", 200,
           s.post(saved(first, "GIF", save_all=True, append_images=[black], duration=100, loop=0)),
           exact=single.json())
    s.case("valid", "animated GIF: black, then the photo", 200,
           s.post(saved(black, "GIF", save_all=True, append_images=[first], duration=100, loop=0)), exact=[])

    # -- 1x1 and other tiny photos: no face, 200.
    dot = Image.new("RGB", (1, 1), (200, 150, 120))
    for fmt in ("JPEG", "PNG", "GIF", "BMP"):
        s.case("tiny", f"1x1 {fmt}", 200, s.post(saved(dot, fmt)), exact=[])
    s.case("tiny", "1x4000 PNG strip", 200, s.post(saved(Image.new("L", (1, 4000)), "PNG")), exact=[])

    # -- EXIF orientations: the stored photo is the upright one turned the
    # other way; the service answers in upright coordinates, so the
    # confident faces are the reference's.
    for o in range(1, 9):
        stored = jpegtran(jpeg, JPEGTRAN_FOR_ORIENTATION[o], tmp)
        body = with_app1(stored, orientation_exif(o, little=o % 2 == 0))
        viewed = ImageOps.exif_transpose(Image.open(io.BytesIO(body)))
        assert pixels_close(viewed, decoded) < 2, f"test input: orientation {o} is not the upright photo"
        s.case("EXIF", f"orientation {o} ({'II' if o % 2 == 0 else 'MM'})", 200, s.post(body), want=reference)
    turned = jpegtran(jpeg, JPEGTRAN_FOR_ORIENTATION[6], tmp)
    as_stored = s.post(turned).json()
    # Malformed EXIF: orientation 1 (the photo as stored), never an error.
    le = "<"
    short6 = struct.pack(le + "H", 6)
    for name, payload in [
        ("TIFF magic 43", b"Exif\0\0" + tiff_ifd0([(0x0112, 3, 1, short6)], magic=43)),
        ("IFD0 offset past the block", b"Exif\0\0" + tiff_ifd0([(0x0112, 3, 1, short6)], ifd_offset=0xFFFFFF00)),
        ("65535 entries claimed", b"Exif\0\0" + tiff_ifd0([(0x0112, 3, 1, short6)], count=0xFFFF)),
        ("orientation 9", b"Exif\0\0" + tiff_ifd0([(0x0112, 3, 1, struct.pack(le + "H", 9))])),
        ("orientation 0", b"Exif\0\0" + tiff_ifd0([(0x0112, 3, 1, struct.pack(le + "H", 0))])),
        ("orientation as a LONG", b"Exif\0\0" + tiff_ifd0([(0x0112, 4, 1, struct.pack(le + "I", 6))])),
        ("orientation count 2", b"Exif\0\0" + tiff_ifd0([(0x0112, 3, 2, short6 + short6)])),
        ("byte order 'XX'", b"Exif\0\0XX" + bytes(30)),
        ("'Exif' and nothing else", b"Exif\0\0"),
        ("IFD0 offset 4 (inside the header)", b"Exif\0\0" + tiff_ifd0([(0x0112, 3, 1, short6)], ifd_offset=4)),
        ("65 KB of random bytes", b"Exif\0\0" + noise.randbytes(65000)),
    ]:
        s.case("EXIF", f"malformed: {name}", 200, s.post(with_app1(turned, payload)),
               exact=as_stored,
               note="orientation 1: the photo as stored")
    s.case("EXIF", "an APP1 longer than the file", 400,
           s.post(turned[:2] + b"\xff\xe1\xff\xf0Exif\0\0II*\0" + turned[2:200]))

    # -- Huge sizes in a few bytes: 413 from the header, before decoding.
    bomb = png(20000, 20000, 0, 1, idat=zeros_deflated(20000 * 2501))
    s.case("bombs", f"PNG 20000x20000 1-bit grey, complete ({len(bomb) // 1024} KB)", 413, s.post(bomb), fast=True)
    s.case("bombs", "PNG 60000x60000 RGB, 1 KB of IDAT", 413,
           s.post(png(60000, 60000, 2, 8, idat=zeros_deflated(1 << 20))), fast=True)
    s.case("bombs", "PNG 100000x1 (a side over 65535)", 413,
           s.post(png(100000, 1, 0, 8, idat=zeros_deflated(100001))), fast=True)
    s.case("bombs", "PNG 2^31-1 x 2^31-1", 413, s.post(png(0x7FFFFFFF, 0x7FFFFFFF, 2, 8, idat=b"")), fast=True)
    bomb = png(1900, 1900, 0, 1, idat=zeros_deflated(1900 * 239))
    s.case("bombs", f"PNG 1900x1900 1-bit, {len(bomb)} bytes, under the pixel limit", 200, s.post(bomb), exact=[],
           note="3.6 MP decoded and searched: max_pixels is the bound")
    for w, h in ((65000, 65000), (65535, 65535), (65535, 16), (3000, 3000)):
        s.case("bombs", f"JPEG SOF declaring {w}x{h} ({len(jpeg)} bytes)", 413, s.post(with_sof_size(jpeg, w, h)),
               fast=True)
    for w, h in ((1900, 1900), (60000, 64)):
        s.case("bombs", f"JPEG SOF declaring {w}x{h} (under the limit), 512x384 of data", 400,
               s.post(with_sof_size(jpeg, w, h)), note="the scan ends rows early: truncated")
    s.case("corrupt", "JPEG SOF declaring 0x384", 400, s.post(with_sof_size(jpeg, 0, 384)), fast=True)
    gif_big = bytearray(gif)
    gif_big[6:10] = struct.pack("<HH", 60000, 60000)
    s.case("bombs", "GIF screen 60000x60000", 413, s.post(bytes(gif_big)), fast=True)
    bmp_big = bytearray(bmp)
    bmp_big[18:26] = struct.pack("<ii", 60000, -60000)
    s.case("bombs", "BMP 60000x60000 (top-down)", 413, s.post(bytes(bmp_big)), fast=True)

    # -- Bodies over the limit (--max-body 4 MiB).
    over = jpeg + bytes(MAX_BODY + 1 - len(jpeg))
    s.case("body limit", "Content-Length over, body sent", 413, s.post(over), fast=True)
    s.case("body limit", "Content-Length over, head only (no body sent)", 413,
           s.post(b"", content_length=MAX_BODY + 1), fast=True)
    s.case("body limit", "Content-Length 2^64-1", 413, s.post(b"", content_length=(1 << 64) - 1), fast=True)
    s.case("body limit", "Content-Length over, Expect: 100-continue", 413,
           s.post(b"", content_length=MAX_BODY + 1, headers={"Expect": "100-continue"}), fast=True)
    s.case("body limit", "chunked, 64 KiB chunks past the limit", 413,
           s.post(b"", chunks=[over[i:i + 65536] for i in range(0, len(over), 65536)]), fast=True)
    s.case("body limit", "chunked, one chunk announcing 1 TiB", 413,
           s.post(b"", send=b"10000000000\r\n" + bytes(1000), headers={"Transfer-Encoding": "chunked"}),
           fast=True)
    s.case("body limit", "chunked, chunk size of 40 hex digits", 413,
           s.post(b"", send=b"f" * 40 + b"\r\n" + bytes(100), headers={"Transfer-Encoding": "chunked"}), fast=True)
    s.case("body limit", "chunked, within the limit", 200,
           s.post(b"", chunks=[jpeg[i:i + 1000] for i in range(0, len(jpeg), 1000)]), exact=reference)
    s.case("body limit", "no Content-Length, 5 MiB sent anyway", 400,
           s.post(b"", content_length=False, send=over), note="no length: an empty body; the rest is dropped")
    s.case("body limit", "Content-Length and chunked together", 400,
           s.post(b"", chunks=[jpeg], headers={"Content-Length": str(len(jpeg))}), fast=True)
    s.case("body limit", "Content-Length shorter than the photo", 400, s.post(b"", send=jpeg, content_length=1000))
    s.case("body limit", "head over 16 KiB", 431, s.post(jpeg, headers={"X-Filler": "a" * 20000}), fast=True)

    # -- Query values: 422 (the photo is fine).
    for c in ("nan", "NaN", "inf", "-inf", "infinity", "-0.1", "1.5", "abc", "", "0.5&confidence=0.5",
              "1e999", "%4E%61%4E", "0x1p-1", "%2B0.5", "+0.5", "0.5%20", "0.5%00"):
        s.case("query", f"confidence={c}", 422, s.post(jpeg, target=f"/api/detect?confidence={c}"), fast=True)
    s.case("query", "confidence=1e-400 (underflows)", 422, s.post(jpeg, target="/api/detect?confidence=1e-400"),
           fast=True)
    s.case("query", "confidence=-0 (is 0)", 200, s.post(jpeg, target="/api/detect?confidence=-0"), faces=2)
    for m in ("fast", "Default", "", "faithful&mode=faithful", "default%00", "../default"):
        s.case("query", f"mode={m}", 422, s.post(jpeg, target=f"/api/detect?mode={m}"), fast=True)
    s.case("query", "a bad %-escape (%ZZ)", 400, s.post(jpeg, target="/api/detect?confidence=%ZZ"), fast=True)
    s.case("query", "unknown parameters are ignored", 200, s.post(jpeg, target=DETECT + "&x=1&size=9e9"),
           exact=reference)

    # -- Multipart forms.
    mp = "multipart/form-data; boundary=hostile-boundary"
    s.case("multipart", "image field (valid)", 200, s.post(multipart([("image", jpeg)]), content_type=mp),
           exact=reference)
    s.case("multipart", "quoted boundary, image second (valid)", 200,
           s.post(multipart([("other", b"x"), ("image", jpeg)]), content_type='multipart/form-data; boundary="hostile-boundary"'),
           exact=reference)
    s.case("multipart", "no image field (only 'file')", 400, s.post(multipart([("file", jpeg)]), content_type=mp))
    s.case("multipart", "no parts at all", 400, s.post(b"--hostile-boundary--\r\n", content_type=mp))
    s.case("multipart", "body's boundary is another one", 400,
           s.post(multipart([("image", jpeg)], boundary="other"), content_type=mp))
    s.case("multipart", "no boundary parameter", 400,
           s.post(multipart([("image", jpeg)]), content_type="multipart/form-data"))
    s.case("multipart", "empty boundary parameter", 400,
           s.post(multipart([("image", jpeg)]), content_type="multipart/form-data; boundary="))
    s.case("multipart", "no closing delimiter", 400,
           s.post(multipart([("image", jpeg)], closing=False), content_type=mp))
    s.case("multipart", "part without headers' end", 400,
           s.post(b"--hostile-boundary\r\nContent-Disposition: form-data; name=\"image\"", content_type=mp))
    s.case("multipart", "empty image field", 400, s.post(multipart([("image", b"")]), content_type=mp))
    s.case("multipart", "image field holding text", 415,
           s.post(multipart([("image", b"not a photo")]), content_type=mp))



def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("binary")
    parser.add_argument("shared")
    parser.add_argument("--rss-bound", type=float, default=40.0)
    parser.add_argument("--fast-ms", type=float, default=1000.0)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--passes", type=int, default=1, help="run every case this many times (memory)")
    args = parser.parse_args()

    photo_path = os.path.join(args.shared, PHOTO)
    if not os.path.isfile(photo_path):
        skip(f"no {photo_path} (../shared absent?)")
    if not shutil.which("jpegtran"):
        skip("no jpegtran (Debian: apt-get install libjpeg-turbo-progs)")

    tmp = tempfile.mkdtemp(prefix="hostile-")
    upright = Image.open(photo_path).convert("RGB").resize(SIZE, Image.LANCZOS)
    jpeg = saved(upright, "JPEG", quality=92)  # baseline 4:2:0, JFIF
    # The photo as the service sees it: libjpeg-turbo's default decode, which
    # is also Pillow's.
    decoded = Image.open(io.BytesIO(jpeg)).convert("RGB")
    rgb_png = saved(decoded, "PNG")

    server = Server(args.binary, ["--threads", "2", "--max-body", str(MAX_BODY), "--max-pixels", str(MAX_PIXELS)])
    try:
        server.start()
        s = Suite(server, args.fast_ms)

        # Warm-up: every request thread has run a detection and the largest
        # buffers the suite's photos need have been taken once.
        for _ in range(2):
            for body in (jpeg, rgb_png):
                assert s.post(body).status == 200
        server.wait_idle()
        rss_warm = server.rss_mib()

        for n in range(1, args.passes + 1):
            run_cases(s, args, tmp, jpeg, decoded, rgb_png)
            if args.passes > 1:
                server.wait_idle()
                time.sleep(1.5)
                print(f"VmRSS after pass {n}: {server.rss_mib():.1f} MiB")
        # -- Nothing was answered 500.
        errors = server.metric('face_service_http_requests_total{route="/api/detect",status="500"}')
        if errors:
            s.failures.append(f"{errors:.0f} requests answered 500")
        # As before the baseline: the photo twice on each thread, then idle.
        for _ in range(2):
            for body in (jpeg, rgb_png):
                assert s.post(body).status == 200
        server.wait_idle()
        rss_end = server.rss_mib()
        growth = rss_end - rss_warm
        bound = f"bound {args.rss_bound:.0f} MiB" if args.rss_bound > 0 else "not checked"
        print(f"VmRSS after warm-up {rss_warm:.1f} MiB, after {len(s.rows)} cases {rss_end:.1f} MiB: "
              f"growth {growth:+.1f} MiB ({bound}); VmHWM {server.status_mib('VmHWM'):.1f} MiB")
        if args.rss_bound > 0 and growth > args.rss_bound:
            s.failures.append(f"VmRSS grew by {growth:.1f} MiB, over {args.rss_bound} MiB")

        status = server.terminate()
        if status != 0:
            s.failures.append(f"exit status {status} after SIGTERM: {server.log_tail()}")

        # The time limit of one detection (--request-timeout): a photo that
        # takes longer is answered 503 about the limit after it started, and
        # the thread is free again.
        limited = Server(args.binary, ["--threads", "1", "--request-timeout", str(TIME_LIMIT)])
        try:
            limited.start()
            s.server = limited
            with open(photo_path, "rb") as f:
                s.case("time limit", f"1024x768 photo, --request-timeout {TIME_LIMIT}", 503, s.post(f.read()),
                       slow_ms=TIME_LIMIT * 1000 + args.fast_ms)
            bomb = png(1900, 1900, 0, 1, idat=zeros_deflated(1900 * 239))
            s.case("time limit", f"PNG 1900x1900 1-bit bomb, --request-timeout {TIME_LIMIT}", 503, s.post(bomb),
                   slow_ms=TIME_LIMIT * 1000 + args.fast_ms)
            s.case("time limit", "then a 1x1 PNG", 200, s.post(saved(Image.new("RGB", (1, 1)), "PNG")), exact=[])
            timeouts = limited.metric("face_service_detection_timeouts_total")
            if timeouts != 2:
                s.failures.append(f"face_service_detection_timeouts_total is {timeouts}, not 2")
            status = limited.terminate()
            if status != 0:
                s.failures.append(f"exit status {status} after SIGTERM (time limit server): {limited.log_tail()}")
        finally:
            limited.close()

        if args.markdown:
            print("\n| group | input | expected | answered | ms | detail |\n|---|---|---|---|---|---|")
            for group, name, expect, got, ms, note in s.rows:
                cell = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in note.replace("|", "/"))[:100]
                print(f"| {group} | {name} | {expect} | {got} | {ms:.0f} | {cell} |")
        if s.failures:
            print(f"\n{len(s.failures)} failures:")
            for f in s.failures:
                print(f"  {f}")
            return 1
        print(f"hostile: all {len(s.rows)} cases passed")
        return 0
    finally:
        server.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
