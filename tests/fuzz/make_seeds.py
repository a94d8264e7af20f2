#!/usr/bin/env python3
"""Writes the committed seed corpora of tests/fuzz/corpus/ (README.md there).

Hand-made edge cases, a few KB in all: tiny valid images of each format and
JPEG variant, truncated ones, an EXIF block, headers that declare too many
pixels; request heads, queries, chunked and multipart bodies; weight files.
Deterministic (no random bytes): running it again gives the same files.
JPEGs come from Debian's cjpeg (libjpeg-turbo-progs); everything else is
built here byte by byte. Real photos and the real weights are added at run
time by run.sh, never committed.

    python3 tests/fuzz/make_seeds.py   # from the repository root
"""
import os
import struct
import subprocess
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def write(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def gradient(w, h):
    return bytes((x * 255 // max(w - 1, 1) if c == 0 else y * 255 // max(h - 1, 1) if c == 1 else (x + y) * 16 % 256)
                 for y in range(h) for x in range(w) for c in range(3))


def ppm(w, h):
    return b"P6\n%d %d\n255\n" % (w, h) + gradient(w, h)


def cjpeg(w, h, *flags):
    return subprocess.run(["cjpeg", *flags], input=ppm(w, h), stdout=subprocess.PIPE, check=True).stdout


def with_exif(jpeg, orientation, big_endian=False):
    """APP1 Exif with IFD0 holding Orientation (SHORT, count 1), after SOI."""
    if big_endian:
        tiff = b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1) + \
            struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    else:
        tiff = b"II\x2a\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + \
            struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack("<I", 0)
    payload = b"Exif\x00\x00" + tiff
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def jpeg_bomb(w, h):
    """SOI, a baseline SOF0 declaring w x h, EOI: refused from the header."""
    sof = struct.pack(">BHHB", 8, h, w, 1) + b"\x01\x11\x00"
    return b"\xff\xd8\xff\xc0" + struct.pack(">H", len(sof) + 2) + sof + b"\xff\xd9"


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(w, h, color_type, rows, extra=b"", depth=8):
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0)
    raw = b"".join(b"\x00" + r for r in rows)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + extra + \
        png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b"")


def bmp24(w, h):
    stride = (w * 3 + 3) & ~3
    rows = b"".join(bytes(v for x in range(w) for v in ((x * 40) % 256, (y * 60) % 256, 128)) + b"\x00" * (stride - 3 * w)
                    for y in range(h))
    dib = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, len(rows), 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + len(dib) + len(rows), 0, 0, 14 + len(dib)) + dib + rows


def bmp_core(w, h):
    """OS/2 1.x BITMAPCOREHEADER (12 bytes, 16-bit sides), 24 bits."""
    stride = (w * 3 + 3) & ~3
    rows = (bytes([200, 100, 50]) * w + b"\x00" * (stride - 3 * w)) * h
    dib = struct.pack("<IHHHH", 12, w, h, 1, 24)
    return b"BM" + struct.pack("<IHHI", 14 + len(dib) + len(rows), 0, 0, 14 + len(dib)) + dib + rows


def gif(w, h, transparent=False):
    """w x h of colour 1 out of a 4-colour table, LZW with minimum code size
    2: clear (4), then index 1 once per pixel (no string codes), end (5).
    Every code is 3 bits wide while the table stays under 8 entries: at most
    2 pixels."""
    assert w * h <= 2
    codes = [4] + [1] * (w * h) + [5]
    bits, n = 0, 0
    for c in codes:
        bits |= c << n
        n += 3
    data = bits.to_bytes((n + 7) // 8, "little")
    gce = b"\x21\xf9\x04\x01\x00\x00\x01\x00" if transparent else b""
    return b"GIF89a" + struct.pack("<HHBBB", w, h, 0x81, 0, 0) + \
        b"\x00\x00\x00\xff\x00\x00\x00\xff\x00\x00\x00\xff" + gce + \
        b"\x2c" + struct.pack("<HHHHB", 0, 0, w, h, 0) + b"\x02" + bytes([len(data)]) + data + b"\x00\x3b"


def images():
    base = cjpeg(8, 8)
    write("fuzz_image", "baseline_8x8.jpg", base)
    write("fuzz_image", "progressive_8x8.jpg", cjpeg(8, 8, "-progressive"))
    write("fuzz_image", "arithmetic_8x8.jpg", cjpeg(8, 8, "-arithmetic"))
    write("fuzz_image", "gray_8x8.jpg", cjpeg(8, 8, "-grayscale"))
    write("fuzz_image", "subsampled_17x9.jpg", cjpeg(17, 9, "-sample", "2x2", "-restart", "1"))
    write("fuzz_image", "face_size_48x48.jpg", cjpeg(48, 48, "-quality", "50"))
    write("fuzz_image", "exif6_le.jpg", with_exif(base, 6))
    write("fuzz_image", "exif8_be.jpg", with_exif(base, 8, big_endian=True))
    write("fuzz_image", "truncated.jpg", base[: len(base) // 2])
    write("fuzz_image", "no_eoi.jpg", base[:-2])
    write("fuzz_image", "bomb_60000x60000.jpg", jpeg_bomb(60000, 60000))
    write("fuzz_image", "soi_only.jpg", b"\xff\xd8\xff")

    rgb_rows = [gradient(4, 3)[y * 12:(y + 1) * 12] for y in range(3)]
    write("fuzz_image", "rgb_4x3.png", png(4, 3, 2, rgb_rows))
    write("fuzz_image", "gray_1x1.png", png(1, 1, 0, [b"\x80"]))
    write("fuzz_image", "gray16_2x1.png", png(2, 1, 0, [b"\x12\x34\xab\xcd"], depth=16))
    palette = png_chunk(b"PLTE", b"\xff\x00\x00\x00\xff\x00") + png_chunk(b"tRNS", b"\x00")
    write("fuzz_image", "palette_2x2.png", png(2, 2, 3, [b"\x00\x01", b"\x01\x00"], extra=palette))
    write("fuzz_image", "rgba_2x1.png", png(2, 1, 6, [b"\x10\x20\x30\x00\x40\x50\x60\xff"]))
    full = png(4, 3, 2, rgb_rows)
    write("fuzz_image", "no_iend.png", full[:-12])
    write("fuzz_image", "bomb_100000x100000.png",
          b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)))

    write("fuzz_image", "rgb_3x2.bmp", bmp24(3, 2))
    write("fuzz_image", "core_2x2.bmp", bmp_core(2, 2))
    top_down = bytearray(bmp24(3, 2))
    struct.pack_into("<i", top_down, 22, -2)
    write("fuzz_image", "top_down_3x2.bmp", bytes(top_down))
    bomb = bytearray(bmp24(1, 1))
    struct.pack_into("<ii", bomb, 18, 30000, 30000)
    write("fuzz_image", "bomb_30000x30000.bmp", bytes(bomb))

    write("fuzz_image", "one_pixel.gif", gif(1, 1))
    write("fuzz_image", "transparent_2x1.gif", gif(2, 1, transparent=True))
    write("fuzz_image", "screen_0x0.gif", b"GIF89a\x00\x00\x00\x00\x00\x00\x00")
    write("fuzz_image", "unsupported.ppm", ppm(2, 2))


def http():
    def seed(name, boundary, rest):
        write("fuzz_http", name, boundary + b"\n" + rest)

    form = (b"--XyZ\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a \\\"b\\\".jpg\"\r\n"
            b"Content-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xd9\r\n"
            b"--XyZ \t\r\nContent-Disposition: form-data; name=mode\r\n\r\nfaithful\r\n--XyZ--\r\nepilogue")
    head = (b"POST /api/detect?mode=faithful&confidence=0.9 HTTP/1.1\r\nHost: localhost:8000\r\n"
            b"Content-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: %d\r\n"
            b"Expect: 100-continue\r\nConnection: keep-alive, Upgrade\r\n\r\n" % len(form))
    seed("multipart_request", b"multipart/form-data; boundary=\"XyZ\"", head + form)
    seed("multipart_preamble", b"XyZ", b"preamble\r\n" + form)
    seed("multipart_empty_headers", b"b", b"--b\r\n\r\nno disposition\r\n--b--")
    seed("raw_jpeg_request", b"image/jpeg",
         b"POST /api/detect HTTP/1.0\r\nContent-Type: image/jpeg\r\nContent-Length: 007\r\n\r\n")
    seed("chunked_request", b"text/plain; charset=utf-8",
         b"POST /api/detect HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
    seed("chunked_body", b"c", b"5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\nNEXT")
    seed("chunked_huge_size", b"c", b"FFFFFFFFFFFFFFFFF\r\n")
    seed("both_lengths", b"x",
         b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: gzip, chunked\r\n\r\n")
    seed("conflicting_lengths", b"x", b"POST / HTTP/1.1\r\nContent-Length: 5, 6\r\nContent-Length: 5\r\n\r\n")
    seed("obs_fold", b"x", b"GET / HTTP/1.1\r\nX-A: 1\r\n  folded\r\n\r\n")
    seed("http2", b"x", b"GET * HTTP/2.0\r\n\r\n")
    seed("query", b"application/octet-stream; q=\"1\\\\\";", b"mode=%66aithful&confidence=0%2E5&&k&x=%zz+y%")
    seed("get_healthz", b"", b"GET /healthz?x=%41%42 HTTP/1.1\r\nHost: a\r\nX-Request-ID: abc\r\n\r\n")


def weight_file(network, tensors, gap=0):
    """weights/README.md version 1: header, table, data at 64-byte offsets."""
    count = len(tensors)
    table_end = 64 + 128 * count
    offsets, end = [], table_end
    for _, shape, values in tensors:
        off = (end + 63) // 64 * 64 + gap
        offsets.append(off)
        end = off + 4 * len(values)
    out = bytearray(end)
    out[0:8] = b"FSWEIGHT"
    struct.pack_into("<IIQ", out, 8, 1, count, end)
    out[32:32 + len(network)] = network.encode()
    for i, (name, shape, values) in enumerate(tensors):
        e = 64 + 128 * i
        out[e:e + len(name)] = name.encode()
        dims = list(shape) + [0] * (4 - len(shape))
        struct.pack_into("<I4II", out, e + 80, len(shape), *dims, 0)
        struct.pack_into("<QQ", out, e + 104, offsets[i], len(values))
        struct.pack_into("<%df" % len(values), out, offsets[i], *values)
    struct.pack_into("<I", out, 24, zlib.crc32(bytes(out)))
    return bytes(out)


def weights():
    two = [("conv1/weights", (2, 1, 1, 3), [0.5, -1.0, 2.0, float("inf"), -0.0, 1e-45]),
           ("conv1/biases", (2,), [1.0, float("nan")])]
    write("fuzz_weights", "two_tensors.bin", weight_file("pnet", two))
    write("fuzz_weights", "gap.bin", weight_file("rnet", two, gap=64))
    write("fuzz_weights", "one_rank4.bin", weight_file("onet", [("t", (1, 1, 1, 1), [3.0])]))
    full = weight_file("pnet", two)
    write("fuzz_weights", "header_only.bin", full[:64])
    write("fuzz_weights", "truncated.bin", full[:-4])
    bad_crc = bytearray(full)
    bad_crc[24] ^= 1
    write("fuzz_weights", "bad_checksum.bin", bytes(bad_crc))


if __name__ == "__main__":
    images()
    http()
    weights()
