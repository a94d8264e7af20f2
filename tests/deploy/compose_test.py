#!/usr/bin/env python3
"""docker-compose.yml, deploy/compose-scaled.yml (+ deploy/compose-base.yml,
which both extend) and deploy/nginx.conf, checked against each other, the
Dockerfile and the service's defaults:

- docker-compose.yml: the service face_service, published on 8000, so the
  predecessor's `docker-compose -f docker-compose.yml up face_service` still
  works; built from deploy/Dockerfile with the repository as context;
  read_only, the image's non-root user, no capabilities; stop_grace_period
  above FACE_SERVICE_GRACE_PERIOD; the image's HEALTHCHECK, option for option;
  request threads equal to the CPUs it gets;
- compose-scaled.yml: three face_service replicas publishing no port, and
  nginx publishing 8000, mounting deploy/nginx.conf read-only, started once
  the replicas are healthy, with a read-only root and a tmpfs for what it writes;
- nginx.conf: its upstream names the compose service and port, re-resolved
  through Docker's DNS (resolver 127.0.0.11, `resolve`, a zone); the body
  limit is the service's (server/config.h); the proxy timeouts are far above
  a detection; X-Request-ID is passed on; its own errors are JSON like the
  service's; a /healthz of its own; every path nginx writes to is under the
  tmpfs. (nginx_test.py runs the file in a real nginx.)

usage: compose_test.py REPO [--resolver=python|docker-compose]
  python: `extends` resolved by deploy_lib (needs python3-yaml only);
  docker-compose: by `docker-compose config` (Debian's docker-compose, or the
  `docker compose` plugin), which also validates the files against the
  compose schema; skipped (77) when neither is installed.
"""

import os
import re
import shutil
import subprocess
import sys

import deploy_lib as lib

SERVICE = "face_service"
DOCKER_DNS = "127.0.0.11"
NGINX_MIN_VERSION = (1, 27, 3)  # `resolve` in an upstream's server (open-source nginx)


def compose_command():
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"],
                                                 capture_output=True).returncode == 0:
        return ["docker", "compose"]
    lib.skip("neither docker-compose (Debian package docker-compose) nor the docker compose plugin")


def resolve_with_tool(command, compose_file):
    """The services of `compose_file` as the compose tool resolves them."""
    result = subprocess.run(command + ["-f", compose_file, "config"], capture_output=True, text=True,
                            cwd=os.path.dirname(compose_file))
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} -f {compose_file} config failed:\n{result.stderr}")
    return lib.load_yaml_documents(result.stdout)[0]["services"]


def resolve_with_python(compose_file):
    names = lib.load_yaml(compose_file)["services"]
    return {name: lib.resolve_compose_service(compose_file, name) for name in names}


def port_pairs(service):
    """[(published, target)] from short ("8000:8000") or long syntax."""
    pairs = []
    for port in service.get("ports", []):
        if isinstance(port, dict):
            pairs.append((str(port.get("published")), str(port["target"])))
        else:
            published, _, target = str(port).rpartition(":")
            pairs.append((published, target))
    return pairs


def dockerfile_image_facts(repo):
    final = lib.parse_dockerfile(lib.read(os.path.join(repo, "deploy", "Dockerfile")))[-1]
    user = [args for keyword, args in final["instructions"] if keyword == "USER"][-1]
    (healthcheck,) = [lib.parse_healthcheck(args) for keyword, args in final["instructions"]
                      if keyword == "HEALTHCHECK"]
    return user, healthcheck


def check_face_service(checks, repo, service, where):
    user, (hc_options, hc_command) = dockerfile_image_facts(repo)
    build = service.get("build", {})
    checks.check(os.path.normpath(build.get("context", "")) == os.path.normpath(repo),
                 f"{where}: built with the repository as context", str(build))
    checks.check(build.get("dockerfile") == "deploy/Dockerfile", f"{where}: built from deploy/Dockerfile",
                 str(build))
    checks.check(service.get("read_only") is True, f"{where}: read_only")
    checks.check(str(service.get("user")) == user, f"{where}: runs as the image's user {user}",
                 str(service.get("user")))
    checks.check(service.get("cap_drop") == ["ALL"], f"{where}: drops every capability")
    env = service.get("environment", {})
    grace = float(env.get("FACE_SERVICE_GRACE_PERIOD", "nan"))
    stop = lib.parse_duration(service.get("stop_grace_period", "0"))
    checks.check(stop > grace, f"{where}: stop_grace_period {stop:g} s above the grace period {grace:g} s")
    checks.check(float(env.get("FACE_SERVICE_THREADS", "nan")) == float(service.get("cpus", "nan")),
                 f"{where}: request threads = the CPUs it gets (hardware_concurrency sees the host's)")
    hc = service.get("healthcheck", {})
    checks.check(hc.get("test") == ["CMD"] + hc_command, f"{where}: the image's healthcheck command",
                 str(hc.get("test")))
    same_timing = all(lib.parse_duration(hc.get(key.replace("-", "_"), "-1")) == lib.parse_duration(value)
                      for key, value in hc_options.items() if key != "retries")
    checks.check(same_timing and int(hc.get("retries", -1)) == int(hc_options.get("retries", -2)),
                 f"{where}: the image's healthcheck timing", f"{hc} vs {hc_options}")


def check_compose(checks, repo, resolve):
    port = str(lib.default_port(repo))
    single = resolve(os.path.join(repo, "docker-compose.yml"))
    checks.check(SERVICE in single, f"docker-compose.yml has the service {SERVICE}", str(list(single)))
    face = single.get(SERVICE, {})
    checks.check((port, port) in port_pairs(face), f"docker-compose.yml publishes {port} on {port}",
                 str(port_pairs(face)))
    check_face_service(checks, repo, face, "docker-compose.yml")

    scaled = resolve(os.path.join(repo, "deploy", "compose-scaled.yml"))
    checks.check(set(scaled) == {SERVICE, "nginx"}, "compose-scaled.yml: face_service and nginx", str(list(scaled)))
    replicas = scaled.get(SERVICE, {})
    check_face_service(checks, repo, replicas, "compose-scaled.yml")
    checks.check(replicas.get("deploy", {}).get("replicas") == 3, "compose-scaled.yml: three replicas")
    checks.check(not replicas.get("ports"), "compose-scaled.yml: the replicas publish no port (they would clash)")
    nginx = scaled.get("nginx", {})
    checks.check((port, port) in port_pairs(nginx), f"compose-scaled.yml: nginx publishes {port}",
                 str(port_pairs(nginx)))
    conf = os.path.join(repo, "deploy", "nginx.conf")
    mounts = [str(v) for v in nginx.get("volumes", [])]
    checks.check(any(re.fullmatch(rf"(\./|{re.escape(os.path.dirname(conf))}/)nginx\.conf:/etc/nginx/nginx\.conf:ro",
                                  m) for m in mounts),
                 "compose-scaled.yml: nginx mounts deploy/nginx.conf read-only", str(mounts))
    depends = nginx.get("depends_on", {})
    checks.check(isinstance(depends, dict) and depends.get(SERVICE, {}).get("condition") == "service_healthy",
                 "compose-scaled.yml: nginx starts once the replicas are healthy", str(depends))
    checks.check(nginx.get("read_only") is True and "/tmp" in nginx.get("tmpfs", []),
                 "compose-scaled.yml: nginx has a read-only root and a /tmp tmpfs")
    m = re.fullmatch(r"nginx:(\d+)\.(\d+)(?:\.(\d+))?(-\S+)?", str(nginx.get("image")))
    version = tuple(int(x or 0) for x in m.groups()[:3]) if m else ()
    checks.check(version >= NGINX_MIN_VERSION, "compose-scaled.yml: an nginx image with upstream `resolve`",
                 str(nginx.get("image")))
    return port


def check_nginx_conf(checks, repo, port):
    tree = lib.parse_nginx(lib.read(os.path.join(repo, "deploy", "nginx.conf")))
    (http,) = lib.nginx_find(tree, "http")
    http_items = http[2]
    upstreams = lib.nginx_find(http_items, "upstream")
    checks.check(len(upstreams) == 1, "nginx.conf: one upstream block")
    name, upstream = (upstreams[0][1][0], upstreams[0][2]) if upstreams else ("", [])
    servers = lib.nginx_find(upstream, "server")
    checks.check([s[1] for s in servers] == [[f"{SERVICE}:{port}", "resolve"]],
                 f"nginx.conf: the upstream is the compose service {SERVICE}:{port}, re-resolved",
                 str([s[1] for s in servers]))
    checks.check(bool(lib.nginx_find(upstream, "zone")), "nginx.conf: the upstream has a zone (`resolve` needs one)")
    checks.check(not [d for d in upstream if d[0] in ("least_conn", "ip_hash", "hash", "random")],
                 "nginx.conf: round robin (no other balancing method)")
    resolvers = lib.nginx_find(http_items, "resolver")
    checks.check(len(resolvers) == 1 and resolvers[0][1][0] == DOCKER_DNS,
                 f"nginx.conf: resolves through Docker's DNS {DOCKER_DNS}", str(resolvers))
    valid = [a for a in (resolvers[0][1] if resolvers else []) if a.startswith("valid=")]
    checks.check(valid and lib.parse_duration(valid[0][6:]) <= 30, "nginx.conf: answers cached 30 s at most",
                 str(valid))

    (server,) = lib.nginx_find(http_items, "server")
    items = server[2]
    checks.check([d[1] for d in lib.nginx_find(items, "listen")] == [[port]], f"nginx.conf: listens on {port}")
    sizes = [lib.parse_nginx_size(d[1][0]) for d in lib.nginx_find(items, "client_max_body_size")]
    max_body = lib.default_max_body(repo)
    checks.check(sizes == [max_body], f"nginx.conf: client_max_body_size is the service's {max_body} bytes",
                 str(sizes))
    proxied = [loc for loc in lib.nginx_find(items, "location", "/")]
    checks.check(len(proxied) == 1, "nginx.conf: one location /")
    location = proxied[0][2] if proxied else []
    checks.check([d[1] for d in lib.nginx_find(location, "proxy_pass")] == [[f"http://{name}"]],
                 "nginx.conf: location / passes to the upstream")
    for timeout in ("proxy_read_timeout", "proxy_send_timeout"):
        values = [lib.parse_duration(d[1][0]) for d in lib.nginx_find(location, timeout)]
        checks.check(values and values[0] >= 60, f"nginx.conf: {timeout} of a minute or more "
                     "(a 1024x768 photo takes ~0.5 s; large photos and queues far longer)", str(values))
    request_id = lib.nginx_find(location, "proxy_set_header", "X-Request-ID")
    maps = lib.nginx_find(http_items, "map", "$http_x_request_id")
    passes_client_id = bool(maps) and bool(request_id) and request_id[0][1][1] == maps[0][1][1] and \
        ["default", "$http_x_request_id"] in [[d[0]] + d[1] for d in maps[0][2]]
    checks.check(passes_client_id, "nginx.conf: the client's X-Request-ID is passed to the replica")
    # Errors nginx answers itself are JSON {"detail": ...}, as the service's.
    for status in ("413", "502", "504"):
        pages = [d[1] for d in lib.nginx_find(items, "error_page") if status in d[1][:-1]]
        target = lib.nginx_find(items, "location", pages[0][-1]) if pages else []
        body = [d[1] for d in lib.nginx_find(target[0][2], "return")] if target else []
        types = [d[1] for d in lib.nginx_find(target[0][2], "default_type")] if target else []
        checks.check(body and body[0][1].startswith('{"detail": ') and types == [["application/json"]],
                     f"nginx.conf: its own {status} is JSON {{\"detail\": ...}}", str(body))
    health = lib.nginx_find(items, "location", "=", "/healthz")
    returns = [d[1] for d in lib.nginx_find(health[0][2], "return")] if health else []
    checks.check(returns and returns[0][0] == "200", "nginx.conf: a /healthz answered by nginx itself")

    # Read-only root: nginx may write only under /tmp (the tmpfs) and to the
    # container's stdout/stderr.
    write_paths = [(d[0], d[1][0]) for d in lib.nginx_walk(tree)
                   if d[0] == "pid" or d[0].endswith("_temp_path") or d[0] in ("error_log", "access_log")]
    outside = [(k, p) for k, p in write_paths if not (p.startswith("/tmp/") or p in ("/dev/stdout", "/dev/stderr", "off"))]
    temp_kinds = {k for k, _ in write_paths if k.endswith("_temp_path")}
    checks.check(not outside and {"pid", "client_body_temp_path", "proxy_temp_path"} <= {k for k, _ in write_paths}
                 and len(temp_kinds) == 5,
                 "nginx.conf: the pid file and all five temp paths are under /tmp, logs go to stdout/stderr",
                 str(outside or write_paths))


def main():
    repo = sys.argv[1]
    resolver = "python"
    for arg in sys.argv[2:]:
        if arg.startswith("--resolver="):
            resolver = arg.split("=", 1)[1]
    checks = lib.Checks()
    if resolver == "docker-compose":
        command = compose_command()
        port = check_compose(checks, repo, lambda path: resolve_with_tool(command, path))
    else:
        port = check_compose(checks, repo, resolve_with_python)
        check_nginx_conf(checks, repo, port)
    checks.finish()


if __name__ == "__main__":
    main()
