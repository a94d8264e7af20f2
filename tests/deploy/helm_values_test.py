#!/usr/bin/env python3
"""The Helm chart's values, without helm:

- values.yaml validates against values.schema.json, and the schema is not
  vacuous: it refuses an unknown key, a wrong mode, 0 threads, a body limit
  over the service's maximum, and a missing key; its bounds are the
  service's own (server/config.h);
- every `.Values.x.y` a template uses exists in values.yaml, and every
  values.yaml leaf is used by a template;
- the ConfigMap sets one FACE_SERVICE_* variable for each `settings` key,
  and never the API keys, which the Deployment takes from the Secret
  apiKeys.existingSecret names, only when it names one;
- settings.requestTimeout and maxBatch are the service's defaults and within
  its bounds;
- Chart.yaml is apiVersion v2; deploy/helmsman.yaml deploys this chart from
  its local path, at the chart's version, into a namespace it declares.

usage: helm_values_test.py REPO
"""

import copy
import json
import os
import re
import sys

import deploy_lib as lib


def leaves(tree, prefix=()):
    """Paths of values.yaml's leaves; an empty map or list is a leaf too."""
    if isinstance(tree, dict) and tree:
        for key, value in tree.items():
            yield from leaves(value, prefix + (key,))
    else:
        yield prefix


def has_path(tree, path):
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return False
        tree = tree[key]
    return True


def used_value_paths(templates_dir):
    """{path tuple: template file} for every .Values.a.b in the templates."""
    used = {}
    for name in sorted(os.listdir(templates_dir)):
        for m in re.finditer(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", lib.read(os.path.join(templates_dir, name))):
            used.setdefault(tuple(m.group(1)[1:].split(".")), name)
    return used


def env_name(settings_key):
    """maxBody -> FACE_SERVICE_MAX_BODY."""
    return "FACE_SERVICE_" + re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", settings_key).upper()


def main():
    repo = sys.argv[1]
    jsonschema = lib.import_or_skip("jsonschema", "python3-jsonschema")
    chart = os.path.join(repo, "deploy", "helm", "face-service")
    checks = lib.Checks()
    values = lib.load_yaml(os.path.join(chart, "values.yaml"))
    schema = json.loads(lib.read(os.path.join(chart, "values.schema.json")))
    validator = jsonschema.Draft7Validator(schema)
    jsonschema.Draft7Validator.check_schema(schema)
    errors = [e.message for e in validator.iter_errors(values)]
    checks.check(not errors, "values.yaml validates against values.schema.json", "; ".join(errors))

    def refused(what, change):
        bad = copy.deepcopy(values)
        change(bad)
        checks.check(not validator.is_valid(bad), f"the schema refuses {what}")

    refused("an unknown top-level key", lambda v: v.update(replicas=3))
    refused("an unknown setting", lambda v: v["settings"].update(prot=8000))
    refused("mode 'fast'", lambda v: v["settings"].update(mode="fast"))
    refused("0 threads", lambda v: v["settings"].update(threads=0))
    refused("a confidence above 1", lambda v: v["settings"].update(confidence=1.5))
    refused("a missing setting", lambda v: v["settings"].pop("gracePeriod"))
    refused("the port as a string", lambda v: v["settings"].update(port="8000"))
    refused("a negative request timeout", lambda v: v["settings"].update(requestTimeout=-1))
    refused("a request timeout over 3600 s", lambda v: v["settings"].update(requestTimeout=3601))
    refused("a batch of 0 photos", lambda v: v["settings"].update(maxBatch=0))
    refused("a batch of more photos than form parts", lambda v: v["settings"].update(maxBatch=65))
    refused("an origin with a path", lambda v: v["settings"].update(corsOrigins="https://a.example.com/app"))
    refused("an origin without a scheme", lambda v: v["settings"].update(corsOrigins="a.example.com"))
    refused("API keys in the values", lambda v: v["apiKeys"].update(keys="k1-0123456789abcdef"))
    refused("a Secret name that is no DNS name", lambda v: v["apiKeys"].update(existingSecret="Face_Keys"))
    for origins in ("", "*", "https://a.example.com", "https://a.example.com, http://localhost:3000"):
        ok = copy.deepcopy(values)
        ok["settings"]["corsOrigins"] = origins
        checks.check(validator.is_valid(ok), f"the schema takes corsOrigins {origins!r}")

    # The bounds are those the service enforces (server/config.h).
    settings_schema = schema["properties"]["settings"]["properties"]
    max_threads = int(lib.config_default(repo, r"kMaxThreads = (\d+);", "kMaxThreads"))
    max_body_shift = int(lib.config_default(repo, r"kMaxBodyLimit = std::int64_t\{1\} << (\d+);", "kMaxBodyLimit"))
    checks.check(settings_schema["threads"]["maximum"] == max_threads, f"threads at most kMaxThreads = {max_threads}")
    checks.check(settings_schema["maxBody"]["maximum"] == 1 << max_body_shift,
                 f"maxBody at most kMaxBodyLimit = {1 << max_body_shift}")
    checks.check(values["settings"]["port"] == lib.default_port(repo), "settings.port is the service's default port")
    checks.check(values["settings"]["maxBody"] == lib.default_max_body(repo),
                 "settings.maxBody is the service's default body limit")
    max_timeout = float(lib.config_default(repo, r"kMaxRequestTimeout = ([0-9.]+);", "kMaxRequestTimeout"))
    default_timeout = float(lib.config_default(repo, r"double request_timeout = ([0-9.]+);", "request_timeout"))
    checks.check(settings_schema["requestTimeout"]["maximum"] == max_timeout,
                 f"requestTimeout at most kMaxRequestTimeout = {max_timeout}")
    checks.check(values["settings"]["requestTimeout"] == default_timeout,
                 f"settings.requestTimeout is the service's default {default_timeout}")
    max_batch = int(lib.config_default(repo, r"kMaxBatchLimit = (\d+);", "kMaxBatchLimit"))
    default_batch = int(lib.config_default(repo, r"int max_batch = (\d+);", "max_batch"))
    checks.check(settings_schema["maxBatch"]["minimum"] == 1 and settings_schema["maxBatch"]["maximum"] == max_batch,
                 f"maxBatch in [1, kMaxBatchLimit = {max_batch}]")
    checks.check(values["settings"]["maxBatch"] == default_batch,
                 f"settings.maxBatch is the service's default {default_batch}")
    checks.check(values["apiKeys"]["existingSecret"] == "", "no API keys unless a Secret is named")

    # Every object level of the schema names exactly the keys of values.yaml.
    def walk(node, tree, path):
        if node.get("type") == "object" and "properties" in node and isinstance(tree, dict):
            checks.check(set(node.get("required", [])) == set(tree) == set(node["properties"]),
                         f"the schema requires exactly the keys of values.yaml at {'.'.join(path) or 'the top'}",
                         f"{sorted(node.get('required', []))} / {sorted(tree)} / {sorted(node['properties'])}")
            for key, sub in node["properties"].items():
                if "$ref" not in sub:
                    walk(sub, tree.get(key), path + [key])
    walk(schema, values, [])

    # Values used by the templates <-> values defined.
    used = used_value_paths(os.path.join(chart, "templates"))
    missing = [".".join(p) + f" ({f})" for p, f in used.items() if not has_path(values, p)]
    checks.check(not missing, "every .Values path a template uses is in values.yaml", ", ".join(missing))
    unused = [".".join(leaf) for leaf in leaves(values)
              if not any(leaf[:len(p)] == p for p in used)]
    checks.check(not unused, "every values.yaml leaf is used by a template", ", ".join(unused))

    configmap = lib.read(os.path.join(chart, "templates", "configmap.yaml"))
    for key in values["settings"]:
        checks.check(re.search(rf"^\s+{env_name(key)}: \{{\{{ \.Values\.settings\.{key}\b", configmap, re.MULTILINE),
                     f"the ConfigMap sets {env_name(key)} from settings.{key}")
    checks.check("API_KEYS" not in configmap and "apiKeys" not in configmap, "the ConfigMap never holds the API keys")
    deployment = lib.read(os.path.join(chart, "templates", "deployment.yaml"))
    checks.check(re.search(r"with \.Values\.apiKeys\.existingSecret \}\}.*?- name: FACE_SERVICE_API_KEYS\s+valueFrom:\s+"
                           r"secretKeyRef:.*?\{\{- end \}\}", deployment, re.DOTALL),
                 "the Deployment takes FACE_SERVICE_API_KEYS from the Secret, only when apiKeys.existingSecret is set")

    chart_yaml = lib.load_yaml(os.path.join(chart, "Chart.yaml"))
    checks.check(chart_yaml.get("apiVersion") == "v2", "Chart.yaml: apiVersion v2")
    checks.check(chart_yaml.get("name") == os.path.basename(chart), "Chart.yaml: name is the chart's directory")

    helmsman_path = os.path.join(repo, "deploy", "helmsman.yaml")
    dsf = lib.load_yaml(helmsman_path)
    apps = dsf.get("apps", {})
    checks.check(len(apps) == 1, "helmsman.yaml: one app", str(list(apps)))
    for name, app in apps.items():
        chart_dir = os.path.normpath(os.path.join(os.path.dirname(helmsman_path), app.get("chart", "")))
        checks.check(chart_dir == os.path.normpath(chart), f"helmsman.yaml: {name} deploys the chart by its local path",
                     chart_dir)
        checks.check(str(app.get("version")) == str(chart_yaml.get("version")),
                     f"helmsman.yaml: {name} at the chart's version {chart_yaml.get('version')}")
        checks.check(app.get("namespace") in (dsf.get("namespaces") or {}),
                     f"helmsman.yaml: {name}'s namespace is declared")
        checks.check(app.get("enabled") is True, f"helmsman.yaml: {name} is enabled")
        overridden = list((app.get("set") or {}).keys()) + list((app.get("setString") or {}).keys())
        bad = [p for p in overridden if not has_path(values, tuple(p.split(".")))]
        checks.check(not bad, f"helmsman.yaml: {name} overrides only values the chart has", str(bad))
    checks.finish()


if __name__ == "__main__":
    main()
