#!/usr/bin/env python3
"""What the deployment files ask of the binary, found in its sources
(server/): every FACE_SERVICE_* variable that compose or the Helm chart sets
(the ConfigMap's, and the Deployment's own env from a Secret) is one the
service reads, and the `healthcheck` subcommand and the routes
the probes and the ServiceMonitor use (/healthz, /readyz, /metrics) exist.
A renamed variable or route then fails here instead of being silently
ignored in a cluster.

usage: interface_test.py REPO
"""

import glob
import os
import re
import sys

import deploy_lib as lib


def main():
    repo = sys.argv[1]
    checks = lib.Checks()
    sources = "\n".join(lib.read(p) for p in sorted(glob.glob(os.path.join(repo, "server", "*.[ch]*"))))
    read_by_service = set(re.findall(r'"(FACE_SERVICE_[A-Z_]+)"', sources))

    deploy_files = ["docker-compose.yml", "deploy/compose-base.yml", "deploy/compose-scaled.yml",
                    "deploy/helm/face-service/templates/configmap.yaml"]
    for name in deploy_files:
        used = set(re.findall(r"^\s+(FACE_SERVICE_[A-Z_]+):", lib.read(os.path.join(repo, name)), re.MULTILINE))
        for variable in sorted(used):
            checks.check(variable in read_by_service, f"{name}: the service reads {variable}")
    deployment = "deploy/helm/face-service/templates/deployment.yaml"
    env = set(re.findall(r"- name: (FACE_SERVICE_[A-Z_]+)", lib.read(os.path.join(repo, deployment))))
    checks.check(env == {"FACE_SERVICE_API_KEYS"}, f"{deployment}: env FACE_SERVICE_API_KEYS alone", str(sorted(env)))
    for variable in sorted(env):
        checks.check(variable in read_by_service, f"{deployment}: the service reads {variable}")

    checks.check(re.search(r'"healthcheck"', sources), "the binary has a `healthcheck` subcommand (server/)")
    for route in ("/healthz", "/readyz", "/metrics"):
        checks.check(f'"{route}"' in sources, f"the service routes GET {route}")
    checks.finish()


if __name__ == "__main__":
    main()
