#!/usr/bin/env python3
"""`detect --server http://NAME:PORT` from a root holding nothing but the binary.

The release image is FROM scratch: no libnss_*.so, no nsswitch.conf, only
what Docker or Kubernetes mount into every container, /etc/hosts and
/etc/resolv.conf. This test builds such a root in a temporary folder, the
static binary and one photo in it, and runs `face-service detect` there
(chroot) against a `face-service serve` started outside:
- a name from /etc/hosts resolves;
- a short Service name resolves through resolv.conf's search list, as
  "face-service" does inside a Kubernetes namespace, asked of a DNS server
  this test runs on 127.0.9.53:53 (the queries it saw are checked);
- both give the faces a numeric address gives;
- a name nobody knows fails with a message naming the name, exit 1.

Arguments: BINARY SHARED_DIR. Exit 77 (skipped) unless root (chroot, port
53), the binary is static (no ELF interpreter: a sanitizer build is not),
and ../shared/golden/ivan.jpg exists.
"""
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

DNS_ADDRESS = "127.0.9.53"  # a loopback address of its own: nothing else listens there
NAMESPACE_DOMAIN = "faces.svc.cluster.local"
SERVICE = "face-service"
HOSTS_NAME = "face-from-hosts"


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def is_static(path):
    """No PT_INTERP program header (ELF64, little-endian)."""
    with open(path, "rb") as f:
        head = f.read(64)
        if head[:4] != b"\x7fELF" or head[4] != 2:
            return False
        phoff, = struct.unpack_from("<Q", head, 32)
        phentsize, phnum = struct.unpack_from("<HH", head, 54)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    return all(struct.unpack_from("<I", table, i * phentsize)[0] != 3 for i in range(phnum))


class FakeDns:
    """Answers A queries for `names` with 127.0.0.1; other A and AAAA queries
    of those names get an empty answer, any other name NXDOMAIN."""

    def __init__(self, names):
        self.names = {n.lower() for n in names}
        self.seen = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((DNS_ADDRESS, 53))
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                query, peer = self.sock.recvfrom(512)
            except OSError:
                return
            self.sock.sendto(self.answer(query), peer)

    def answer(self, query):
        tid, = struct.unpack_from(">H", query, 0)
        labels, i = [], 12
        while query[i]:
            labels.append(query[i + 1:i + 1 + query[i]].decode("ascii", "replace"))
            i += query[i] + 1
        qtype, = struct.unpack_from(">H", query, i + 1)
        question = query[12:i + 5]
        name = ".".join(labels).lower()
        self.seen.append((name, qtype))
        records = b""
        count = 0
        if name in self.names and qtype == 1:
            records = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 30, 4) + socket.inet_aton("127.0.0.1")
            count = 1
        rcode = 0 if name in self.names else 3
        return struct.pack(">HHHHHH", tid, 0x8180 | rcode, 1, count, 0, 0) + question + records

    def close(self):
        self.sock.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port, server):
    deadline = time.time() + 60
    while time.time() < deadline:
        if server.poll() is not None:
            fail("the server exited with %d" % server.returncode)
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % port, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    fail("the server was not ready within 60 s")


def detect_in_root(root, url):
    """`detect /photos --server URL` run inside `root`: (exit code, stdout, stderr)."""
    run = subprocess.run([shutil.which("chroot"), root, "/face-service", "detect", "/photos/ivan.jpg", "--server", url],
                         env={}, capture_output=True, text=True, timeout=120)
    return run.returncode, run.stdout, run.stderr


def main():
    binary, shared = sys.argv[1], sys.argv[2]
    photo = os.path.join(shared, "golden", "ivan.jpg")
    if os.geteuid() != 0 or shutil.which("chroot") is None:
        print("skipped: needs root and chroot")
        return 77
    if not is_static(binary):
        print("skipped: " + binary + " is not static (a sanitizer build?)")
        return 77
    if not os.path.isfile(photo):
        print("skipped: no " + photo)
        return 77

    root = tempfile.mkdtemp(prefix="face-names-")
    port = free_port()
    server = subprocess.Popen([binary, "serve", "--host", "127.0.0.1", "--port", str(port), "--threads", "2",
                               "--access-log", "off"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dns = None
    try:
        os.makedirs(os.path.join(root, "etc"))
        os.makedirs(os.path.join(root, "photos"))
        shutil.copy(binary, os.path.join(root, "face-service"))
        shutil.copy(photo, os.path.join(root, "photos", "ivan.jpg"))
        with open(os.path.join(root, "etc", "hosts"), "w") as f:
            f.write("127.0.0.1 localhost\n127.0.0.1 %s\n" % HOSTS_NAME)
        # What a pod of namespace "faces" gets from the kubelet.
        with open(os.path.join(root, "etc", "resolv.conf"), "w") as f:
            f.write("nameserver %s\nsearch %s svc.cluster.local cluster.local\noptions ndots:5 timeout:2 attempts:2\n"
                    % (DNS_ADDRESS, NAMESPACE_DOMAIN))
        try:
            dns = FakeDns([SERVICE + "." + NAMESPACE_DOMAIN])
        except OSError as e:
            print("skipped: cannot serve DNS on %s:53: %s" % (DNS_ADDRESS, e))
            return 77
        wait_ready(port, server)

        code, numeric, err = detect_in_root(root, "http://127.0.0.1:%d" % port)
        if code != 0:
            fail("--server with a numeric address: exit %d: %s" % (code, err))
        faces = json.loads(numeric)
        if len(faces) != 1:
            fail("expected ivan.jpg's one face, got " + numeric)
        print("ok: a numeric address, 1 face")

        code, out, err = detect_in_root(root, "http://%s:%d" % (HOSTS_NAME, port))
        if code != 0 or json.loads(out) != faces:
            fail("a name from /etc/hosts: exit %d, %s %s" % (code, out, err))
        print("ok: a name from /etc/hosts")

        code, out, err = detect_in_root(root, "http://%s:%d" % (SERVICE, port))
        if code != 0 or json.loads(out) != faces:
            fail("the Service's short name: exit %d, %s %s" % (code, out, err))
        asked = {name for name, qtype in dns.seen if qtype == 1}
        if SERVICE + "." + NAMESPACE_DOMAIN not in asked:
            fail("the DNS server was not asked for the search-list name; it saw %s" % sorted(asked))
        print("ok: the Service's short name through resolv.conf's search list (asked: %s)" % sorted(asked))

        code, out, err = detect_in_root(root, "http://no-such-service:%d" % port)
        if code != 1 or "no-such-service" not in err:
            fail("an unknown name: exit %d, stderr %r" % (code, err))
        print("ok: an unknown name fails, naming it: " + err.strip().splitlines()[-1])
    finally:
        if dns:
            dns.close()
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
