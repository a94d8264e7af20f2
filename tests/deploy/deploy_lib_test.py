#!/usr/bin/env python3
"""The parsers of deploy_lib on hand-made input: what the other deployment
tests conclude is only as good as these.

usage: deploy_lib_test.py
"""

import os
import tempfile
import textwrap
import unittest

import deploy_lib as lib

try:
    import yaml  # noqa: F401  (resolve_compose_service reads YAML)
    HAVE_YAML = True
except ImportError:
    HAVE_YAML = False


class DurationsAndSizes(unittest.TestCase):
    def test_durations(self):
        self.assertEqual(lib.parse_duration("25s"), 25)
        self.assertEqual(lib.parse_duration("1m30s"), 90)
        self.assertEqual(lib.parse_duration("500ms"), 0.5)
        self.assertEqual(lib.parse_duration("20"), 20)
        for bad in ("", "s", "10x", "10s junk", "-5s"):
            with self.assertRaises(ValueError, msg=bad):
                lib.parse_duration(bad)

    def test_nginx_sizes_are_binary(self):
        self.assertEqual(lib.parse_nginx_size("16m"), 16 * 1024 * 1024)
        self.assertEqual(lib.parse_nginx_size("64K"), 65536)
        self.assertEqual(lib.parse_nginx_size("1000"), 1000)
        with self.assertRaises(ValueError):
            lib.parse_nginx_size("16MB")


class Dockerfile(unittest.TestCase):
    TEXT = textwrap.dedent("""\
        # syntax=docker/dockerfile:1
        ARG BASE=debian:12
        FROM debian:12 AS build
        RUN apt-get update && \\
            # a comment inside the continuation
            apt-get install -y make
        from scratch
        COPY --from=build --chmod=755 /src/a /a
        HEALTHCHECK --interval=5s CMD ["/a", "healthcheck"]
        CMD serve
        """)

    def test_stages_continuations_and_comments(self):
        build, final = lib.parse_dockerfile(self.TEXT)
        self.assertEqual((build["from"], build["name"]), ("debian:12", "build"))
        self.assertEqual(build["instructions"], [("RUN", "apt-get update && apt-get install -y make")])
        self.assertEqual((final["from"], final["name"]), ("scratch", None))
        self.assertEqual([k for k, _ in final["instructions"]], ["COPY", "HEALTHCHECK", "CMD"])

    def test_flags_exec_form_and_healthcheck(self):
        final = lib.parse_dockerfile(self.TEXT)[1]
        flags, paths = lib.split_flags(final["instructions"][0][1])
        self.assertEqual(flags, {"from": "build", "chmod": "755"})
        self.assertEqual(paths, "/src/a /a")
        self.assertEqual(lib.parse_healthcheck(final["instructions"][1][1]),
                         ({"interval": "5s"}, ["/a", "healthcheck"]))
        self.assertIsNone(lib.exec_form(final["instructions"][2][1]))  # shell form
        with self.assertRaises(ValueError):
            lib.exec_form('[1, "x"]')

    def test_refuses_what_it_cannot_read(self):
        with self.assertRaises(ValueError):
            lib.parse_dockerfile("RUN make\n")  # before any FROM
        with self.assertRaises(ValueError):
            lib.parse_dockerfile("FROM a\nRUN x \\\n")  # ends inside a continuation


class DockerIgnore(unittest.TestCase):
    PATTERNS = lib.dockerignore_patterns("# comment\n.git\n/build/\n**/node_modules\n**/*.swp\ndocs/*.png\n")

    def test_matches_paths_and_their_parents(self):
        excluded = [".git", ".git/HEAD", "build/release/x", "node_modules/a", "tests/browser/node_modules/a/b",
                    "a/.b.swp", "x.swp", "docs/page.png"]
        for path in excluded:
            self.assertTrue(lib.dockerignore_excludes(path, self.PATTERNS), path)

    def test_keeps_the_rest(self):
        kept = ["server/build.cpp", "tests/build/x", "gitx", "docs/sub/page.png", "node_modules_x/a", "Makefile"]
        for path in kept:
            self.assertFalse(lib.dockerignore_excludes(path, self.PATTERNS), path)

    def test_refuses_exceptions(self):
        with self.assertRaises(ValueError):
            lib.dockerignore_patterns("build\n!build/keep\n")


class Nginx(unittest.TestCase):
    TEXT = textwrap.dedent("""\
        http {
            # a comment; with { braces }
            map $a $b { default $a; "" x; }
            upstream u { server h:80 resolve; }
            server {
                location = /healthz { return 200 '{"status": "alive"}'; }
            }
        }
        """)

    def test_tree(self):
        (http,) = lib.nginx_find(lib.parse_nginx(self.TEXT), "http")
        (upstream,) = lib.nginx_find(http[2], "upstream", "u")
        self.assertEqual(upstream[2], [("server", ["h:80", "resolve"], None)])
        (mapping,) = lib.nginx_find(http[2], "map")
        self.assertEqual(mapping[2], [("default", ["$a"], None), ("", ["x"], None)])
        returns = [d for d in lib.nginx_walk(http[2]) if d[0] == "return"]
        self.assertEqual(returns, [("return", ["200", '{"status": "alive"}'], None)])

    def test_unbalanced(self):
        for bad in ("http {", "http { }}", "listen 80", "{ }"):
            with self.assertRaises(ValueError, msg=bad):
                lib.parse_nginx(bad)


@unittest.skipUnless(HAVE_YAML, "python3-yaml missing")
class ComposeExtends(unittest.TestCase):
    def write(self, directory, name, text):
        path = os.path.join(directory, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(textwrap.dedent(text))
        return path

    def test_base_keys_plus_own_with_paths_from_the_base_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            os.mkdir(os.path.join(tmp, "deploy"))
            self.write(tmp, "deploy/base.yml", """\
                services:
                  s:
                    build: {context: .., dockerfile: deploy/Dockerfile}
                    read_only: true
                """)
            top = self.write(tmp, "top.yml", """\
                services:
                  s:
                    extends: {file: deploy/base.yml, service: s}
                    ports: ["1:1"]
                """)
            resolved = lib.resolve_compose_service(top, "s")
            self.assertEqual(resolved, {"build": {"context": tmp, "dockerfile": "deploy/Dockerfile"},
                                        "read_only": True, "ports": ["1:1"]})

    def test_refuses_keys_set_twice(self):
        with tempfile.TemporaryDirectory() as tmp:
            self.write(tmp, "base.yml", "services:\n  s:\n    environment: {A: '1'}\n")
            top = self.write(tmp, "top.yml",
                             "services:\n  s:\n    extends: {file: base.yml, service: s}\n    environment: {B: '2'}\n")
            with self.assertRaises(ValueError):
                lib.resolve_compose_service(top, "s")


class Checks(unittest.TestCase):
    def test_a_failed_check_fails_the_run(self):
        checks = lib.Checks()
        checks.check(True, "fine")
        checks.check(False, "broken")
        with self.assertRaises(SystemExit) as exit_:
            checks.finish()
        self.assertEqual(exit_.exception.code, 1)


if __name__ == "__main__":
    unittest.main()
