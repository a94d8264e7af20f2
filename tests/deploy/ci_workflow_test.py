#!/usr/bin/env python3
""".github/workflows/ci.yml: parses as YAML; runs on push and pull_request;
one job in a debian:12 container (the OS of our CI and of the Dockerfile's
build stage) that installs git and make, checks out, and runs
`bash .ci/run`, which exists and runs `make test` and the sanitizer suite.

usage: ci_workflow_test.py REPO
"""

import os
import re
import sys

import deploy_lib as lib


def main():
    repo = sys.argv[1]
    checks = lib.Checks()
    workflow = lib.load_yaml(os.path.join(repo, ".github", "workflows", "ci.yml"))
    # YAML 1.1 (PyYAML) reads the bare key `on` as the boolean true.
    triggers = workflow.get("on", workflow.get(True))
    checks.check(isinstance(triggers, dict) and {"push", "pull_request"} <= set(triggers),
                 "runs on push and pull_request", str(triggers))
    jobs = workflow.get("jobs", {})
    checks.check(len(jobs) == 1, "one job", str(list(jobs)))
    job = next(iter(jobs.values()), {})
    container = job.get("container")
    image = container.get("image") if isinstance(container, dict) else container
    build_stage = lib.parse_dockerfile(lib.read(os.path.join(repo, "deploy", "Dockerfile")))[0]["from"]
    checks.check(image == "debian:12" == build_stage, "in a debian:12 container, as the Dockerfile's build stage",
                 f"{image} / {build_stage}")
    steps = job.get("steps", [])
    runs = [step.get("run", "") for step in steps]
    uses = [step.get("uses", "") for step in steps]
    install = next((i for i, r in enumerate(runs) if "apt-get install" in r), None)
    packages = set(re.findall(r"[a-z0-9][a-z0-9.+-]*", runs[install].split("apt-get install", 1)[1])) \
        if install is not None else set()
    checks.check({"git", "make"} <= packages, "installs git and make", str(packages))
    checkout = next((i for i, u in enumerate(uses) if u.startswith("actions/checkout@")), None)
    checks.check(install is not None and checkout is not None and install < checkout,
                 "checks out with actions/checkout, after git is installed")
    ci = next((i for i, r in enumerate(runs) if r.strip() == "bash .ci/run"), None)
    checks.check(ci is not None and checkout is not None and ci > checkout, "then runs exactly `bash .ci/run`")
    script = lib.read(os.path.join(repo, ".ci", "run"))
    checks.check("make test" in script and "make test-sanitize" in script,
                 ".ci/run runs make test and the sanitizer suite")
    checks.finish()


if __name__ == "__main__":
    main()
