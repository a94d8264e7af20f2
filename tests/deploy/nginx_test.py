#!/usr/bin/env python3
"""deploy/nginx.conf run by a real nginx, on a copy with only these
test-only substitutions, each required to match exactly where expected:

- /tmp/ (the container's tmpfs) -> a temporary directory;
- `server face_service:8000 resolve` -> `server 127.0.0.1:8000`, on an
  nginx older than 1.27.3 (Debian 12 has 1.22), which has no `resolve` and
  resolves upstream names when it loads (there is no Docker DNS here). The
  resolver line stays as written.

1. `nginx -t` accepts it, and refuses a copy with a ';' missing (so the test
   can fail).
2. Served, with also `listen 8000` -> 127.0.0.1:PORT and the upstream ->
   a stand-in replica on 127.0.0.1 (Python's http.server): nginx's own
   /healthz; requests reach the replica with the client's X-Request-ID, or
   one nginx made, returned to the client too; a body of exactly 16 MiB
   passes, one byte more is refused with a JSON 413 before the body is
   sent; with the replica gone, a JSON 503. Everything stays on 127.0.0.1
   and ends by itself.

nginx comes from PATH, else from Debian's nginx .deb unpacked into CACHE_DIR
(never installed: the package starts a web server on port 80). Skipped (77)
when neither is possible.

usage: nginx_test.py REPO CACHE_DIR
"""

import http.client
import http.server
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

import deploy_lib as lib

RESOLVE_SINCE = (1, 27, 3)
UPSTREAM_LINE = "server face_service:8000 resolve;"
START_TIMEOUT_S = 10
HTTP_TIMEOUT_S = 30


def nginx_version(nginx):
    result = subprocess.run([nginx, "-v"], capture_output=True, text=True)
    m = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", result.stderr + result.stdout)
    if result.returncode != 0 or not m:
        lib.skip(f"{nginx} -v does not run here: {result.stderr.strip()}")
    return tuple(int(x) for x in m.groups())


def substitute(text, old, new, count=1):
    found = text.count(old)
    if found != count:
        raise AssertionError(f"expected {old!r} {count} times in nginx.conf, found {found}: update this test")
    return text.replace(old, new)


def nginx_args(nginx, tmp, conf_text):
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w", encoding="utf-8") as f:
        f.write(conf_text)
    return [nginx, "-p", tmp, "-e", os.path.join(tmp, "error.log"), "-c", conf]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Replica(http.server.BaseHTTPRequestHandler):
    """A stand-in for face-service: answers 200 with what it received, and
    closes the connection (HTTP/1.0), so that once it is shut down nginx has
    no kept-alive connection to it left."""

    def answer(self):
        length = int(self.headers.get("Content-Length", 0))
        received = 0
        while received < length:
            received += len(self.rfile.read(min(1 << 20, length - received)))
        body = json.dumps({"request_id": self.headers.get("X-Request-ID"), "bytes": received}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = answer

    def log_message(self, *args):
        pass


def request(port, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_TIMEOUT_S)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def head_only_post(port, length):
    """A POST announcing `length` bytes and sending none: what nginx answers
    from the header alone, as (status, head, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=HTTP_TIMEOUT_S) as s:
        s.sendall(f"POST /api/detect HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n"
                  "Content-Type: image/jpeg\r\n\r\n".encode())
        response = http.client.HTTPResponse(s)
        response.begin()
        return response.status, str(response.headers), response.read()


def is_json_detail(body):
    try:
        return set(json.loads(body)) == {"detail"}
    except ValueError:
        return False


def serve_checks(checks, nginx, tmp, text, max_body):
    port = free_port()
    replica = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Replica)
    threading.Thread(target=replica.serve_forever, daemon=True).start()
    text = substitute(text, "listen 8000;", f"listen 127.0.0.1:{port};")
    text = substitute(text, "server 127.0.0.1:8000;", f"server 127.0.0.1:{replica.server_address[1]};")
    os.chmod(tmp, 0o755)  # run as root, nginx's workers run as its unprivileged user
    server = subprocess.Popen(nginx_args(nginx, tmp, text) + ["-g", "daemon off;"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                status, _, body = request(port, "GET", "/healthz")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"nginx did not start: {server.stderr.read().decode()}")
                time.sleep(0.05)
        checks.check(status == 200 and json.loads(body) == {"status": "alive"}, "served: nginx's own /healthz")

        status, headers, body = request(port, "GET", "/readyz", headers={"X-Request-ID": "client-id-1"})
        checks.check(status == 200 and json.loads(body)["request_id"] == "client-id-1"
                     and headers.get("X-Request-ID") == "client-id-1",
                     "served: /readyz reaches the replica with the client's X-Request-ID, returned too", str(body))
        status, headers, body = request(port, "GET", "/readyz")
        made = json.loads(body)["request_id"] if status == 200 else None
        checks.check(made and re.fullmatch(r"[0-9a-f]{32}", made) and headers.get("X-Request-ID") == made,
                     "served: without one, nginx makes an X-Request-ID for the replica and the client", str(made))

        status, _, body = request(port, "POST", "/api/detect", body=b"\0" * max_body,
                                  headers={"Content-Type": "image/jpeg"})
        checks.check(status == 200 and json.loads(body)["bytes"] == max_body,
                     f"served: a body of exactly {max_body} bytes reaches the replica", str(body[:200]))
        status, head, body = head_only_post(port, max_body + 1)
        checks.check(status == 413 and is_json_detail(body),
                     "served: one byte more is refused from the header, as JSON {\"detail\": ...}", head)

        replica.shutdown()
        replica.server_close()
        status, _, body = request(port, "GET", "/readyz")
        checks.check(status == 503 and is_json_detail(body), "served: no replica -> JSON 503", f"{status} {body}")
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        replica.server_close()


def main():
    repo, cache_dir = sys.argv[1:3]
    nginx = lib.find_or_fetch_nginx(cache_dir)
    version = nginx_version(nginx)
    print(f"nginx {'.'.join(map(str, version))} at {nginx}")
    checks = lib.Checks()
    original = lib.read(os.path.join(repo, "deploy", "nginx.conf"))
    with tempfile.TemporaryDirectory() as tmp:
        text = original.replace("/tmp/", tmp + "/")
        local = substitute(text, UPSTREAM_LINE, "server 127.0.0.1:8000;")
        checked = text if version >= RESOLVE_SINCE else local
        result = subprocess.run(nginx_args(nginx, tmp, checked) + ["-t"], capture_output=True, text=True)
        checks.check(result.returncode == 0, "nginx -t accepts deploy/nginx.conf", result.stderr.strip())
        broken = substitute(checked, "proxy_http_version 1.1;", "proxy_http_version 1.1")
        result = subprocess.run(nginx_args(nginx, tmp, broken) + ["-t"], capture_output=True, text=True)
        checks.check(result.returncode != 0, "nginx -t refuses it with a ';' missing", result.stderr.strip())
        serve_checks(checks, nginx, tmp, local, lib.default_max_body(repo))
    checks.finish()


if __name__ == "__main__":
    main()
