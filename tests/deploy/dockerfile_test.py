#!/usr/bin/env python3
"""deploy/Dockerfile and .dockerignore, checked against the repository, since
no Docker engine runs here to build the image:

- the build stage is debian:12 (CI's OS), installs only make, and its one
  build command is `make build`, the target CI's `make test` builds;
- COPY --from takes the binary from where `make build` leaves it: the
  release preset's binaryDir (CMakePresets.json) plus the executable's path
  inside the build tree (from CMake itself: TARGET_FILE relative to
  CMAKE_BINARY_DIR);
- the final stage is FROM scratch, holds only that file, and runs it as a
  numeric non-root user; EXPOSE is the service's default port
  (server/config.h); HEALTHCHECK runs `face-service healthcheck` in exec form
  (scratch has no shell); ENTRYPOINT + CMD run `serve`;
- .dockerignore leaves out build trees, node_modules and .git, and no file
  git tracks (the build needs them all).

That the binary runs alone, as non-root, in an empty directory with an
empty environment is tests/server/static_binary_test.sh's claim.

usage: dockerfile_test.py REPO TARGET_FILE CMAKE_BINARY_DIR
"""

import json
import os
import re
import shutil
import subprocess
import sys

import deploy_lib as lib


def makefile_recipe(makefile_text, target):
    """(prerequisites, recipe lines) of a Makefile rule."""
    m = re.search(rf"^{re.escape(target)}:([^\n]*)\n((?:\t[^\n]*\n)*)", makefile_text, re.MULTILINE)
    if not m:
        raise AssertionError(f"the Makefile has no rule '{target}'")
    return m.group(1).split(), [line.strip().lstrip("@") for line in m.group(2).splitlines()]


def release_binary_dir(repo):
    """The release preset's build tree, relative to the repository."""
    presets = json.loads(lib.read(os.path.join(repo, "CMakePresets.json")))
    (preset,) = [p for p in presets["configurePresets"] if p["name"] == "release"]
    binary_dir = preset["binaryDir"]
    if not binary_dir.startswith("${sourceDir}/"):
        raise AssertionError(f"release binaryDir {binary_dir!r} is not under ${{sourceDir}}")
    return binary_dir[len("${sourceDir}/"):]


def main():
    repo, target_file, cmake_binary_dir = sys.argv[1:4]
    checks = lib.Checks()
    stages = lib.parse_dockerfile(lib.read(os.path.join(repo, "deploy", "Dockerfile")))
    checks.check(len(stages) == 2, "two stages: build, then the image", f"{len(stages)} stages")
    build, final = stages[0], stages[-1]

    # The build stage: CI's OS, only make, and CI's own build command.
    checks.check(build["from"] == "debian:12" and build["name"], "the build stage is a named FROM debian:12",
                 f"FROM {build['from']} AS {build['name']}")
    runs = [args for keyword, args in build["instructions"] if keyword == "RUN"]
    checks.check(len(runs) == 2, "the build stage has two RUNs: install make, then make build", str(runs))
    install = runs[0] if runs else ""
    m = re.fullmatch(r"apt-get update && (?:DEBIAN_FRONTEND=noninteractive )?apt-get install (.*)", install)
    packages = [w for w in m.group(1).split() if not w.startswith("-")] if m else []
    checks.check(packages == ["make"], "the first RUN installs only make with apt-get", install)
    checks.check(runs[-1:] == ["make build"], "the build command is exactly `make build`", str(runs[-1:]))

    makefile = lib.read(os.path.join(repo, "Makefile"))
    test_prereqs, _ = makefile_recipe(makefile, "test")
    checks.check("build" in test_prereqs, "CI's `make test` (.ci/run) builds through the same `build` target",
                 f"test: {' '.join(test_prereqs)}")
    checks.check("make test" in lib.read(os.path.join(repo, ".ci", "run")), ".ci/run runs make test")
    _, build_recipe = makefile_recipe(makefile, "build")
    uses_release = any(re.search(r"cmake --build --preset release\b", line) for line in build_recipe)
    checks.check(uses_release, "`make build` builds the release preset", " | ".join(build_recipe))

    workdir = [args for keyword, args in build["instructions"] if keyword == "WORKDIR"]
    copies = [args for keyword, args in build["instructions"] if keyword == "COPY"]
    checks.check(len(workdir) == 1 and workdir[0].startswith("/"), "one absolute WORKDIR in the build stage",
                 str(workdir))
    checks.check(copies == [". ."], "the build stage copies the whole context (.dockerignore trims it)",
                 str(copies))

    # Where `make build` leaves the binary: the preset's build tree plus the
    # executable's path inside any build tree, as CMake reports it.
    inside_tree = os.path.relpath(target_file, cmake_binary_dir)
    expected_source = "/".join([workdir[0].rstrip("/") if workdir else "", release_binary_dir(repo), inside_tree])

    # The image.
    checks.check(final["from"] == "scratch", "the final stage is FROM scratch", final["from"])
    keywords = [keyword for keyword, _ in final["instructions"]]
    allowed = {"COPY", "USER", "EXPOSE", "HEALTHCHECK", "ENTRYPOINT", "CMD", "LABEL"}
    checks.check(set(keywords) <= allowed, "the final stage only copies and describes (no RUN: no shell)",
                 str(keywords))
    final_copies = [lib.split_flags(args) for keyword, args in final["instructions"] if keyword == "COPY"]
    checks.check(len(final_copies) == 1, "the image holds one file", str(final_copies))
    flags, paths = final_copies[0] if final_copies else ({}, "")
    source, _, binary = paths.partition(" ")
    checks.check(flags.get("from") == build["name"], "COPY --from names the build stage", str(flags))
    checks.check(source == expected_source, "COPY --from takes the binary where `make build` puts it",
                 f"{source} != {expected_source}")
    checks.check(binary.startswith("/"), "the binary goes to an absolute path", binary)

    users = [args for keyword, args in final["instructions"] if keyword == "USER"]
    m = re.fullmatch(r"(\d+):(\d+)", users[-1]) if users else None
    checks.check(m and int(m.group(1)) != 0 and int(m.group(2)) != 0,
                 "USER is a numeric non-root uid:gid (scratch has no /etc/passwd)", str(users))

    port = lib.default_port(repo)
    exposed = [args for keyword, args in final["instructions"] if keyword == "EXPOSE"]
    checks.check(exposed == [str(port)], f"EXPOSE is the service's default port {port}", str(exposed))

    healthchecks = [lib.parse_healthcheck(args) for keyword, args in final["instructions"] if keyword == "HEALTHCHECK"]
    options, command = healthchecks[0] if len(healthchecks) == 1 else ({}, None)
    checks.check(command == [binary, "healthcheck"], "HEALTHCHECK runs `face-service healthcheck` in exec form",
                 str(command))
    checks.check(all(k in options for k in ("interval", "timeout", "start-period", "retries")),
                 "HEALTHCHECK sets interval, timeout, start period and retries", str(options))

    entrypoints = [lib.exec_form(args) for keyword, args in final["instructions"] if keyword == "ENTRYPOINT"]
    cmds = [lib.exec_form(args) for keyword, args in final["instructions"] if keyword == "CMD"]
    checks.check(entrypoints == [[binary]], "ENTRYPOINT is the binary, in exec form", str(entrypoints))
    checks.check(cmds == [["serve"]], "CMD is `serve`, in exec form",
                 str(cmds))

    # The build context.
    patterns = lib.dockerignore_patterns(lib.read(os.path.join(repo, ".dockerignore")))
    for path in (".git/config", "build/release/CMakeCache.txt", "tests/browser/node_modules/x/package.json"):
        checks.check(lib.dockerignore_excludes(path, patterns), f".dockerignore leaves out {path}")
    if shutil.which("git") and os.path.isdir(os.path.join(repo, ".git")):
        tracked = subprocess.run(["git", "-C", repo, "ls-files"], check=True, capture_output=True,
                                 text=True).stdout.split("\n")
        dropped = [p for p in tracked if p and lib.dockerignore_excludes(p, patterns)]
        checks.check(not dropped, f".dockerignore keeps all {len(tracked) - 1} tracked files", str(dropped[:5]))
    else:
        print("note: not a git checkout; the tracked files were not compared with .dockerignore")
    checks.finish()


if __name__ == "__main__":
    main()
