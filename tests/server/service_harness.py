"""What the Python HTTP tests of `face-service serve` share (hostile_test.py,
burst_test.py): a server on a free port, a raw HTTP/1.1 client that sends
exactly the bytes it is given (a lying Content-Length, a chunk size past the
limit, a body cut off), the server's resident memory, and the exit status 77
that CTest reads as "skipped".

Standard library only; hostile_test.py adds Debian's python3-pil.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

SKIP = 77  # CTest's SKIP_RETURN_CODE


def skip(reason):
    print(f"skipped: {reason}")
    sys.exit(SKIP)


def debian_python_with(module):
    """Re-runs this script with Debian's /usr/bin/python3 when the python3
    found first on PATH (a pyenv or a virtual environment) cannot import
    `module` but Debian's can: the Makefile installs the test's modules as
    Debian packages, which only Debian's interpreter sees. Returns when the
    module imports here; skips the test when no interpreter has it."""
    try:
        __import__(module)
        return
    except ImportError:
        pass
    debian = "/usr/bin/python3"
    if os.path.realpath(sys.executable) != os.path.realpath(debian) and os.path.exists(debian):
        probe = subprocess.run([debian, "-c", f"import {module}"], capture_output=True)
        if probe.returncode == 0:
            os.execv(debian, [debian] + sys.argv)
    skip(f"no Python module {module} (Debian: apt-get install python3-pil)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Reply:
    """One HTTP response as read from the socket; status 0 when none came
    (`error` then says what happened)."""

    def __init__(self, status=0, headers=None, body=b"", elapsed=0.0, error=""):
        self.status = status
        self.headers = headers or {}
        self.body = body
        self.elapsed = elapsed  # seconds, from connect to the last byte read
        self.error = error

    def json(self):
        return json.loads(self.body)

    def detail(self):
        """The error's {"detail": string}, or None when the body is not one."""
        if not self.headers.get("content-type", "").startswith("application/json"):
            return None
        try:
            d = self.json()
        except ValueError:
            return None
        if isinstance(d, dict) and isinstance(d.get("detail"), str) and d["detail"]:
            return d["detail"]
        return None

    def __repr__(self):
        return f"Reply({self.status}, {self.body[:200]!r}{', ' + self.error if self.error else ''})"


def _read_reply(sock, deadline):
    data = b""
    head_end = -1
    while head_end < 0:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before a complete response head")
        data += chunk
        head_end = data.find(b"\r\n\r\n")
    head, rest = data[:head_end].decode("latin-1"), data[head_end + 4:]
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ConnectionError(f"not an HTTP response: {lines[0]!r}")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "-1"))
    while length < 0 or len(rest) < length:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            if length < 0:
                break
            raise ConnectionError("closed in the middle of the response body")
        rest += chunk
    return int(parts[1]), headers, rest[:length] if length >= 0 else rest


def request(port, method, target, body=b"", headers=None, content_length=True, chunks=None,
            send=None, timeout=120.0):
    """Sends one request on a fresh connection (Connection: close) and reads
    the reply.

    body: sent after the head; Content-Length: len(body) unless
    content_length is False (none) or an int (that value, whatever is sent;
    with chunks or send, only an int sets one).
    chunks: a list of bytes sent as the chunked transfer coding instead
    (with the terminating zero chunk unless the list ends with None).
    send: raw bytes after the head instead of body or chunks, as they are.
    A failed send (the server closed first) is not an error as long as a
    response can be read: the server may answer before the body is whole.
    """
    head = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    extra = dict(headers or {})
    payload = body
    if chunks is not None:
        extra.setdefault("Transfer-Encoding", "chunked")
        payload = b""
        for c in chunks:
            if c is None:
                break
            payload += b"%x\r\n%s\r\n" % (len(c), c)
        else:
            payload += b"0\r\n\r\n"
    elif send is not None:
        payload = send
    if content_length is True:
        if chunks is None and send is None and (body or method in ("POST", "PUT")):
            extra.setdefault("Content-Length", str(len(body)))
    elif content_length is not False:
        extra.setdefault("Content-Length", str(content_length))
    head += [f"{k}: {v}" for k, v in extra.items()]
    wire = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
    began = time.monotonic()
    deadline = began + timeout
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError as e:
        return Reply(elapsed=time.monotonic() - began, error=f"connect: {e}")
    send_error = ""
    with sock:
        try:
            sock.sendall(wire)
            # In pieces: a server that answers early (413 from the head)
            # stops reading, and the rest cannot be sent anyway.
            for i in range(0, len(payload), 1 << 16):
                sock.sendall(payload[i:i + (1 << 16)])
        except OSError as e:
            send_error = f"send: {e}"
        try:
            status, headers, reply_body = _read_reply(sock, deadline)
        except (OSError, ConnectionError) as e:
            return Reply(elapsed=time.monotonic() - began, error=f"{send_error} read: {e}".strip())
    return Reply(status, headers, reply_body, time.monotonic() - began, send_error)


class Server:
    """`face-service serve` on 127.0.0.1 and a free port, its stderr in a
    temporary file. start() returns once GET /readyz answers 200."""

    def __init__(self, binary, args=(), env=None):
        self.binary = binary
        self.args = list(args)
        self.env = env
        self.port = 0
        self.proc = None
        self.log = tempfile.NamedTemporaryFile(prefix="face-service-", suffix=".log", delete=False)

    def start(self, ready_within=60.0):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--host", "127.0.0.1", "--port", str(self.port)] + self.args,
            stdout=subprocess.DEVNULL, stderr=self.log, env=self.env)
        deadline = time.monotonic() + ready_within
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode} during start-up: {self.log_tail()}")
            if request(self.port, "GET", "/readyz", timeout=2).status == 200:
                return self
            if time.monotonic() > deadline:
                raise RuntimeError(f"not ready within {ready_within} s: {self.log_tail()}")
            time.sleep(0.05)

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def status_mib(self, key):
        """A field of /proc/PID/status given in kB (VmRSS, VmHWM), in MiB."""
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError(f"no {key} line")

    def rss_mib(self):
        return self.status_mib("VmRSS")

    def metric(self, name):
        """A sample of /metrics (0 when absent)."""
        reply = request(self.port, "GET", "/metrics", timeout=10)
        for line in reply.body.decode().splitlines():
            if not line.startswith("#") and line.rsplit(" ", 1)[0] == name:
                return float(line.rsplit(" ", 1)[1])
        return 0.0

    def wait_idle(self, within=120.0):
        """Until no request waits and the scrape is the only one in flight."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if (self.metric("face_service_queue_depth") == 0
                    and self.metric("face_service_http_requests_in_flight") == 1):
                return
            time.sleep(0.05)
        raise RuntimeError(f"still busy {within} s later")

    def terminate(self, within=30.0):
        """SIGTERM; the exit status (None when it had not exited in time: killed)."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(within)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, lines=20):
        self.log.flush()
        with open(self.log.name, errors="replace") as f:
            return "".join(f.readlines()[-lines:])

    def close(self):
        self.kill()
        self.log.close()
        os.unlink(self.log.name)
