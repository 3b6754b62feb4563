#!/usr/bin/env python3
"""Checks docker/compose.yaml, its Prometheus and Grafana files, docker/Dockerfile and every
manifest under deploy/kubernetes/ for the structure that decides whether they work, and
starts the real voxgate binary with each configuration they ship.

  check_manifests.py REPO_ROOT VOXGATE_BINARY

No Docker engine or Kubernetes cluster runs here: this is what can be checked without
one. Prints every problem found and exits 1 if there is any.
"""

import copy
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

from voxgate_process import Voxgate, http_get, strip_json_comments

# src/server/runtime.cpp: after the drain deadline, close handshakes get this long.
CLOSE_HANDSHAKE_SECONDS = 2
# include/voxgate/config.hpp ShutdownConfig, used when a config leaves the keys out.
DEFAULT_READINESS_GRACE_SECONDS = 5
DEFAULT_DRAIN_SECONDS = 10
# In debian:bookworm-slim before any apt-get install (Essential, and apt's own dependencies).
SLIM_BASE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6"}
SECRET_NAME = re.compile(r"(KEY|TOKEN|PASSWORD|SECRET)", re.IGNORECASE)
# A secret's value in compose.yaml may only be taken from the environment compose runs in:
# ${NAME}, ${NAME:-} (empty default) or ${NAME:?message}; never a default with a value.
FROM_ENVIRONMENT = re.compile(r"\$\{(\w+)(?::?-|:?\?[^}]*)?\}")


class Problems:
    def __init__(self):
        self.items = []
        self.checked = 0

    def check(self, ok, where, message):
        self.checked += 1
        if not ok:
            self.items.append(f"{where}: {message}")
        return ok


def load_yaml_documents(path):
    with open(path, encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def port_of(listen):
    return int(listen.rsplit(":", 1)[1])


def shutdown_seconds(config):
    shutdown = config.get("shutdown", {})
    return (shutdown.get("readiness_grace_seconds", DEFAULT_READINESS_GRACE_SECONDS),
            shutdown.get("drain_seconds", DEFAULT_DRAIN_SECONDS))


def parse_duration_seconds(text):
    """Compose durations such as "25s", "1m30s"."""
    match = re.fullmatch(r"(?:(\d+)m)?(?:(\d+)s)?", str(text))
    if not match or not any(match.groups()):
        raise ValueError(f"unsupported duration {text!r}")
    return int(match.group(1) or 0) * 60 + int(match.group(2) or 0)


def start_and_probe(problems, where, binary, config, env, expect_separate_metrics, grace_budget):
    """Starts voxgate with `config` (a dict, listen addresses already on 127.0.0.1:0),
    checks its endpoints, drains it with SIGTERM and checks the drain fits `grace_budget`."""
    with tempfile.TemporaryDirectory(prefix="voxgate-deploy-") as work:
        config_path = os.path.join(work, "voxgate.json")
        with open(config_path, "w", encoding="utf-8") as f:
            json.dump(config, f)
        try:
            with Voxgate(binary, config_path, env=env, expect_metrics_port=expect_separate_metrics) as gateway:
                status, _ = http_get(gateway.client_port, "/readyz")
                problems.check(status == 200, where, f"/readyz answered {status}, expected 200")
                status, _ = http_get(gateway.client_port, "/healthz")
                problems.check(status == 200, where, f"/healthz answered {status}, expected 200")
                status, body = http_get(gateway.metrics_port, "/metrics")
                problems.check(status == 200 and "voxgate_connections_active" in body, where,
                               f"/metrics on the metrics port answered {status}")
                if expect_separate_metrics:
                    status, _ = http_get(gateway.client_port, "/metrics")
                    problems.check(status == 404, where,
                                   f"/metrics on the client port answered {status}; with metrics.listen it must be 404")
                code, seconds = gateway.stop()
                problems.check(code == 0, where, f"SIGTERM drain exited with status {code}:\n{gateway.log_text()}")
                problems.check(seconds < grace_budget, where,
                               f"the drain took {seconds:.1f} s, not below the {grace_budget} s the orchestrator allows")
                print(f"  {where}: started, /readyz 200, drained on SIGTERM in {seconds:.1f} s (allowed {grace_budget} s)")
        except RuntimeError as error:
            problems.check(False, where, f"the real binary refused it: {error}")


# ---------------------------------------------------------------------------------------
# docker/


def check_runtime_libraries(problems, where, dockerfile_text, binary):
    """The runtime stage installs, by name, the Debian package of every shared library the
    binary built here links (DT_NEEDED), the build stage being the same Debian release and
    the same install script: a library added to the build without its runtime package
    would make the image fail at exec."""
    runtime = dockerfile_text.split("AS runtime", 1)[-1]
    install = re.search(r"apt-get install\b(.*?)(?:&&|$)", runtime.replace("\\\n", " "), re.S)
    if not problems.check(install is not None, where, "the runtime stage runs no apt-get install"):
        return
    packages = {w for w in install.group(1).split() if not w.startswith("-")} | SLIM_BASE_PACKAGES
    needed = re.findall(r"\(NEEDED\).*\[(.+)\]", subprocess.run(
        ["readelf", "-d", binary], capture_output=True, text=True, check=True).stdout)
    resolved = dict(re.findall(r"^\s*(\S+) => (/\S+)", subprocess.run(
        ["ldd", binary], capture_output=True, text=True, check=True).stdout, re.M))
    problems.check(needed, where, f"readelf found no NEEDED libraries in {binary}")
    for library in needed:
        owner = None
        for path in (resolved.get(library), os.path.realpath(resolved.get(library, ""))):
            if path:
                answer = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
                if answer.returncode == 0:
                    owner = answer.stdout.split(":", 1)[0]
                    break
        if problems.check(owner is not None, where, f"no Debian package owns {library} ({resolved.get(library)})"):
            problems.check(owner in packages, where,
                           f"the binary links {library} (package {owner}), which the runtime stage does not install")


def check_dockerfile(problems, root, binary):
    where = "docker/Dockerfile"
    with open(os.path.join(root, where), encoding="utf-8") as f:
        text = f.read()
    # The image must be built by the same install script CI runs (scripts/test.sh).
    problems.check(re.search(r"^COPY\s+scripts/install-deps\.sh\s", text, re.M) is not None, where,
                   "does not COPY scripts/install-deps.sh")
    problems.check(re.search(r"^RUN\s.*\bbash scripts/install-deps\.sh\b", text, re.M) is not None, where,
                   "does not RUN bash scripts/install-deps.sh")
    with open(os.path.join(root, "scripts/test.sh"), encoding="utf-8") as f:
        problems.check(re.search(r"^bash scripts/install-deps\.sh\b", f.read(), re.M) is not None,
                       "scripts/test.sh", "CI no longer runs scripts/install-deps.sh")
    problems.check(re.search(r"cmake --build build .*--target voxgate", text) is not None, where,
                   "does not build the voxgate target")
    for source in re.findall(r"^COPY\s+(?!--from)(\S+)\s", text, re.M):
        problems.check(os.path.exists(os.path.join(root, source)), where, f"COPY source {source} does not exist")
    check_runtime_libraries(problems, where, text, binary)
    uid = re.search(r"useradd\b.*--uid\s+(\d+)", text)
    exposed = re.findall(r"^EXPOSE\s+(\d+)", text, re.M)
    problems.check(uid is not None, where, "creates no user with a fixed --uid")
    problems.check(exposed, where, "EXPOSEs no port")
    return {"uid": int(uid.group(1)) if uid else None, "ports": [int(p) for p in exposed]}


def environment_of(service):
    """A compose service's environment as a dict (list or mapping form); None = no value."""
    environment = service.get("environment", {})
    if isinstance(environment, dict):
        return {k: (None if v is None else str(v)) for k, v in environment.items()}
    return {e.split("=", 1)[0]: (e.split("=", 1)[1] if "=" in e else None) for e in environment}


def bind_source(volume):
    """The host path of a compose bind mount, or None for a named volume."""
    if isinstance(volume, dict):
        return volume.get("source") if volume.get("type", "bind") == "bind" else None
    source = volume.split(":", 1)[0]
    return source if source.startswith((".", "/", "~")) else None


def check_compose(problems, root, binary, dockerfile):
    where = "docker/compose.yaml"
    compose_dir = os.path.join(root, "docker")
    docs = load_yaml_documents(os.path.join(root, where))
    if not problems.check(len(docs) == 1 and isinstance(docs[0], dict), where, "expected one YAML mapping"):
        return
    compose = docs[0]
    services = compose.get("services", {})
    for name in ("voxgate", "prometheus", "grafana"):
        problems.check(name in services, where, f"no service {name!r}")
    if not all(name in services for name in ("voxgate", "prometheus", "grafana")):
        return
    declared_volumes = set((compose.get("volumes") or {}).keys())

    # Every bind mount names a file or folder of the repository; every named volume is declared.
    mounts = {}
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = bind_source(volume)
            target = volume["target"] if isinstance(volume, dict) else volume.split(":")[1]
            if source is None:
                named = volume["source"] if isinstance(volume, dict) else volume.split(":", 1)[0]
                problems.check(named in declared_volumes, where, f"services.{name}: volume {named!r} is not declared")
                continue
            path = os.path.normpath(os.path.join(compose_dir, source))
            if problems.check(os.path.exists(path), where,
                              f"services.{name}.volumes: {source} does not exist ({path})"):
                mounts.setdefault(name, {})[target] = path
        # Secrets by name only: a value written in the file would be committed.
        for variable, value in environment_of(service).items():
            if SECRET_NAME.search(variable):
                source = FROM_ENVIRONMENT.fullmatch(value or "")
                problems.check(value in (None, "") or (source is not None and source.group(1) == variable), where,
                               f"services.{name}.environment.{variable} has a value written in the file; "
                               f"take it from the environment (${{{variable}:-}}) or an env_file")

    voxgate = services["voxgate"]
    build = voxgate.get("build", {})
    context = os.path.normpath(os.path.join(compose_dir, build.get("context", ".")))
    problems.check(os.path.samefile(context, root), where, "services.voxgate.build.context is not the repository root")
    problems.check(os.path.normpath(os.path.join(context, build.get("dockerfile", "Dockerfile"))) ==
                   os.path.join(root, "docker", "Dockerfile"), where,
                   "services.voxgate.build.dockerfile is not docker/Dockerfile")
    for env_file in voxgate.get("env_file", []):
        path = env_file if isinstance(env_file, str) else env_file["path"]
        required = True if isinstance(env_file, str) else env_file.get("required", True)
        problems.check(not required or os.path.exists(os.path.join(compose_dir, path)), where,
                       f"services.voxgate.env_file {path} is required but missing")

    # voxgate's config: the one mounted at VOXGATE_CONFIG (else the image's own).
    environment = environment_of(voxgate)
    config_target = environment.get("VOXGATE_CONFIG") or "/etc/voxgate/voxgate.json"
    config_file = mounts.get("voxgate", {}).get(config_target, os.path.join(root, "config", "voxgate.json"))
    with open(config_file, encoding="utf-8") as f:
        config = json.loads(strip_json_comments(f.read()))
    client_port = port_of(config.get("server", {}).get("listen", "0.0.0.0:8080"))
    metrics_listen = config.get("metrics", {}).get("listen")
    metrics_port = port_of(metrics_listen) if metrics_listen else client_port
    problems.check(client_port in dockerfile["ports"], where,
                   f"voxgate listens on {client_port}, the Dockerfile EXPOSEs {dockerfile['ports']}")
    published = [str(p).rsplit(":", 1)[-1] for p in voxgate.get("ports", [])]
    problems.check(str(client_port) in published, where, f"services.voxgate.ports does not publish {client_port}")
    for port in voxgate.get("ports", []):
        problems.check(str(port).startswith("127.0.0.1:"), where,
                       f"services.voxgate.ports {port}: auth.mode none is safe only on the host's loopback")

    # Stop grace: readiness grace + drain + close handshakes must fit.
    readiness, drain = shutdown_seconds(config)
    stop_grace = parse_duration_seconds(voxgate.get("stop_grace_period", "10s"))
    problems.check(readiness + drain + CLOSE_HANDSHAKE_SECONDS < stop_grace, where,
                   f"stop_grace_period {stop_grace} s is not above readiness grace {readiness} + drain {drain} "
                   f"+ {CLOSE_HANDSHAKE_SECONDS} s")

    # Prometheus scrapes voxgate where it serves /metrics.
    prometheus_file = mounts.get("prometheus", {}).get("/etc/prometheus/prometheus.yml")
    if problems.check(prometheus_file is not None, where, "prometheus does not mount /etc/prometheus/prometheus.yml"):
        prometheus = load_yaml_documents(prometheus_file)[0]
        targets = [t for job in prometheus.get("scrape_configs", [])
                   for static in job.get("static_configs", []) for t in static.get("targets", [])]
        problems.check(f"voxgate:{metrics_port}" in targets, os.path.relpath(prometheus_file, root),
                       f"no scrape target voxgate:{metrics_port} (targets: {targets})")

    # Grafana: the datasource points at the prometheus service, the dashboard provider at
    # the folder the dashboard is mounted into.
    grafana_mounts = mounts.get("grafana", {})
    dashboard_targets = [t for t, p in grafana_mounts.items()
                         if os.path.samefile(p, os.path.join(root, "deploy", "grafana", "voxgate.json"))]
    problems.check(dashboard_targets, where, "grafana does not mount deploy/grafana/voxgate.json")
    datasources = grafana_mounts.get("/etc/grafana/provisioning/datasources")
    dashboards = grafana_mounts.get("/etc/grafana/provisioning/dashboards")
    if problems.check(datasources and dashboards, where, "grafana does not mount both provisioning folders"):
        urls = [d.get("url") for name in sorted(os.listdir(datasources)) if name.endswith((".yaml", ".yml"))
                for doc in load_yaml_documents(os.path.join(datasources, name)) for d in doc.get("datasources", [])
                if d.get("type") == "prometheus"]
        problems.check("http://prometheus:9090" in urls, "docker/grafana/provisioning/datasources",
                       f"no prometheus datasource at http://prometheus:9090 (found {urls})")
        paths = [p.get("options", {}).get("path") for name in sorted(os.listdir(dashboards))
                 if name.endswith((".yaml", ".yml"))
                 for doc in load_yaml_documents(os.path.join(dashboards, name)) for p in doc.get("providers", [])]
        problems.check(any(os.path.dirname(t) in paths for t in dashboard_targets),
                       "docker/grafana/provisioning/dashboards",
                       f"no provider reads the folder the dashboard is mounted into ({dashboard_targets}, {paths})")

    # The real binary accepts the config compose mounts.
    test_config = copy.deepcopy(config)
    test_config.setdefault("server", {})["listen"] = "127.0.0.1:0"
    if metrics_listen:
        test_config["metrics"]["listen"] = "127.0.0.1:0"
    start_and_probe(problems, os.path.relpath(config_file, root), binary, test_config, {},
                    expect_separate_metrics=bool(metrics_listen), grace_budget=stop_grace)


# ---------------------------------------------------------------------------------------
# deploy/kubernetes/


def container_ports(container):
    return {p["name"]: p["containerPort"] for p in container.get("ports", []) if "name" in p}, \
        {p["containerPort"] for p in container.get("ports", [])}


def resolve_port(port, named, numbers):
    if isinstance(port, int):
        return port if port in numbers else None
    return named.get(port)


def prestop_sleep_seconds(container):
    pre_stop = container.get("lifecycle", {}).get("preStop", {})
    if "sleep" in pre_stop:
        return int(pre_stop["sleep"]["seconds"])
    command = pre_stop.get("exec", {}).get("command", [])
    if len(command) == 2 and os.path.basename(command[0]) == "sleep":
        return int(command[1])
    return None


def check_kubernetes(problems, root, binary, dockerfile):
    folder = os.path.join(root, "deploy", "kubernetes")
    by_kind = {}
    files = sorted(f for f in os.listdir(folder) if f.endswith((".yaml", ".yml")))
    for name in files:
        for index, doc in enumerate(load_yaml_documents(os.path.join(folder, name))):
            where = f"deploy/kubernetes/{name}[{index}]"
            if doc.get("kind") == "Kustomization":
                listed = set(doc.get("resources", []))
                expected = set(files) - {name}
                problems.check(listed == expected, where, f"resources {sorted(listed)} != the manifests {sorted(expected)}")
                continue
            ok = all(problems.check(isinstance(doc.get(key), str) and doc[key], where, f"no {key}")
                     for key in ("apiVersion", "kind"))
            ok = problems.check(isinstance(doc.get("metadata"), dict) and doc["metadata"].get("name"), where,
                                "no metadata.name") and ok
            if ok:
                by_kind.setdefault(doc["kind"], []).append((where, doc))
    for kind in ("Deployment", "Service", "ConfigMap", "Secret", "ServiceMonitor", "HorizontalPodAutoscaler"):
        problems.check(kind in by_kind, "deploy/kubernetes", f"no {kind}")
    if "Deployment" not in by_kind:
        return
    where, deployment = by_kind["Deployment"][0]
    pod = deployment["spec"]["template"]["spec"]
    pod_labels = deployment["spec"]["template"]["metadata"].get("labels", {})
    selector = deployment["spec"]["selector"].get("matchLabels", {})
    problems.check(selector.items() <= pod_labels.items(), where, "spec.selector does not match the pod labels")
    containers = [c for c in pod["containers"] if c["name"] == "voxgate"]
    if not problems.check(containers, where, "no container named voxgate"):
        return
    container = containers[0]
    named, numbers = container_ports(container)

    # Probes on declared ports.
    for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = container.get(probe, {}).get("httpGet", {})
        problems.check(get.get("path") == path, where, f"{probe} is not an httpGet on {path}")
        problems.check(resolve_port(get.get("port"), named, numbers) is not None, where,
                       f"{probe} port {get.get('port')!r} is not a containerPort")

    # Security: non-root (the image's uid), read-only root filesystem, no capabilities.
    pod_security = pod.get("securityContext", {})
    security = {**pod_security, **container.get("securityContext", {})}
    problems.check(security.get("runAsNonRoot") is True, where, "runAsNonRoot is not true")
    problems.check(security.get("runAsUser") not in (None, 0), where, "runAsUser is unset or 0")
    problems.check(security.get("runAsUser") == dockerfile["uid"], where,
                   f"runAsUser {security.get('runAsUser')} is not the image's uid {dockerfile['uid']}")
    problems.check(container.get("securityContext", {}).get("readOnlyRootFilesystem") is True, where,
                   "readOnlyRootFilesystem is not true")
    problems.check(container.get("securityContext", {}).get("allowPrivilegeEscalation") is False, where,
                   "allowPrivilegeEscalation is not false")
    problems.check("ALL" in container.get("securityContext", {}).get("capabilities", {}).get("drop", []), where,
                   "capabilities.drop does not contain ALL")
    resources = container.get("resources", {})
    problems.check(resources.get("requests", {}).get("memory") and resources.get("requests", {}).get("cpu"), where,
                   "no cpu and memory requests")
    problems.check(resources.get("limits", {}).get("memory"), where, "no memory limit")

    # The files the container sees: every volumeMount laid out from its ConfigMap or Secret.
    objects = {(kind, doc["metadata"]["name"]): doc for kind, docs in by_kind.items() for _, doc in docs}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    files = {}
    for mount in container.get("volumeMounts", []):
        volume = volumes.get(mount["name"])
        if not problems.check(volume is not None, where, f"volumeMount {mount['name']} has no volume"):
            continue
        problems.check(mount.get("readOnly") is True, where, f"volumeMount {mount['name']} is not readOnly")
        problems.check("subPath" not in mount, where,
                       f"volumeMount {mount['name']} uses subPath: ConfigMap/Secret updates would never reach it")
        if "configMap" in volume:
            source = objects.get(("ConfigMap", volume["configMap"]["name"]))
            data = source.get("data", {}) if source else None
        elif "secret" in volume:
            source = objects.get(("Secret", volume["secret"]["secretName"]))
            data = {**source.get("stringData", {})} if source else None
            problems.check(source is None or not source.get("data"), where,
                           f"Secret {volume['secret']['secretName']} has base64 data; placeholders go in stringData")
        else:
            problems.check(False, where, f"volume {mount['name']} is neither a ConfigMap nor a Secret")
            continue
        if not problems.check(data is not None, where, f"volume {mount['name']} names an object that is not here"):
            continue
        for key, value in data.items():
            files[os.path.join(mount["mountPath"], key)] = value
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    config_path = env.get("VOXGATE_CONFIG")
    if not problems.check(config_path in files, where, f"VOXGATE_CONFIG {config_path!r} is not a mounted file"):
        return
    try:
        config = json.loads(files[config_path])
    except json.JSONDecodeError as error:
        problems.check(False, "ConfigMap voxgate.json", f"not valid JSON: {error}")
        return

    # Ports: the config's listeners are containerPorts; Services target containerPorts.
    client_port = port_of(config.get("server", {}).get("listen", "0.0.0.0:8080"))
    metrics_listen = config.get("metrics", {}).get("listen")
    problems.check(client_port in numbers, where, f"server.listen port {client_port} is not a containerPort")
    problems.check(client_port in dockerfile["ports"], where, f"server.listen port {client_port} is not EXPOSEd by the image")
    if metrics_listen:
        problems.check(port_of(metrics_listen) in numbers, where,
                       f"metrics.listen port {port_of(metrics_listen)} is not a containerPort")
    service_ports = {}
    for service_where, service in by_kind.get("Service", []):
        problems.check(service["spec"].get("selector", {}).items() <= pod_labels.items(), service_where,
                       "spec.selector does not select the voxgate pods")
        for port in service["spec"].get("ports", []):
            target = resolve_port(port.get("targetPort", port["port"]), named, numbers)
            problems.check(target is not None, service_where,
                           f"targetPort {port.get('targetPort')!r} is not a containerPort")
            service_ports.setdefault(service["metadata"]["name"], {})[port.get("name")] = (service, target)
    if metrics_listen:
        client_services = [n for n, ports in service_ports.items()
                           if any(t == port_of(metrics_listen) for _, t in ports.values())
                           and any(t == client_port for _, t in ports.values())]
        problems.check(not client_services, "Service", f"{client_services} route to both the client and the metrics port")

    # ServiceMonitor: selects a Service by its labels and scrapes a port of it that is /metrics.
    for monitor_where, monitor in by_kind.get("ServiceMonitor", []):
        wanted = monitor["spec"]["selector"].get("matchLabels", {})
        selected = [n for _, s in by_kind.get("Service", []) for n in [s["metadata"]["name"]]
                    if wanted.items() <= s["metadata"].get("labels", {}).items()]
        problems.check(selected, monitor_where, f"selects no Service (matchLabels {wanted})")
        expected = port_of(metrics_listen) if metrics_listen else client_port
        for endpoint in monitor["spec"].get("endpoints", []):
            problems.check(endpoint.get("path", "/metrics") == "/metrics", monitor_where, "endpoint path is not /metrics")
            targets = [service_ports.get(n, {}).get(endpoint.get("port"), (None, None))[1] for n in selected]
            problems.check(targets and all(t == expected for t in targets), monitor_where,
                           f"endpoint port {endpoint.get('port')!r} does not reach the metrics port {expected}")

    # HPA: targets this Deployment.
    for hpa_where, hpa in by_kind.get("HorizontalPodAutoscaler", []):
        ref = hpa["spec"]["scaleTargetRef"]
        problems.check(ref.get("kind") == "Deployment" and ref.get("name") == deployment["metadata"]["name"],
                       hpa_where, "scaleTargetRef is not the voxgate Deployment")
        names = [m.get("pods", {}).get("metric", {}).get("name") for m in hpa["spec"].get("metrics", [])]
        problems.check("voxgate_connections_active" in names, hpa_where, "does not scale on voxgate_connections_active")

    # Drain: preStop sleep + readiness grace + drain + close handshakes < grace period.
    readiness, drain = shutdown_seconds(config)
    sleep = prestop_sleep_seconds(container)
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if problems.check(sleep is not None, where, "no preStop sleep"):
        problems.check(sleep + readiness + drain + CLOSE_HANDSHAKE_SECONDS < grace, where,
                       f"preStop {sleep} + readiness grace {readiness} + drain {drain} + {CLOSE_HANDSHAKE_SECONDS} s "
                       f"is not below terminationGracePeriodSeconds {grace}")

    # The real binary with the ConfigMap's config and the Secret files, as the pod has them:
    # each mounted file under a temporary root, paths in the config moved along.
    with tempfile.TemporaryDirectory(prefix="voxgate-pod-") as pod_root:
        for path, content in files.items():
            os.makedirs(os.path.dirname(pod_root + path), exist_ok=True)
            with open(pod_root + path, "w", encoding="utf-8") as f:
                f.write(content)
        mount_paths = tuple(m["mountPath"].rstrip("/") + "/" for m in container.get("volumeMounts", []))

        def relocate(value):
            if isinstance(value, dict):
                return {k: relocate(v) for k, v in value.items()}
            if isinstance(value, list):
                return [relocate(v) for v in value]
            if isinstance(value, str) and value.startswith(mount_paths):
                return pod_root + value
            return value

        test_config = relocate(config)
        test_config["server"]["listen"] = "127.0.0.1:0"
        if metrics_listen:
            test_config["metrics"]["listen"] = "127.0.0.1:0"
        pod_env = {k: (pod_root + v if v and v.startswith(mount_paths) else v) for k, v in env.items() if v}
        pod_env.pop("VOXGATE_CONFIG", None)  # the relocated copy is passed with --config
        start_and_probe(problems, "ConfigMap voxgate-config voxgate.json", binary, test_config, pod_env,
                        expect_separate_metrics=bool(metrics_listen), grace_budget=grace - sleep if sleep else grace)


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    root, binary = os.path.realpath(sys.argv[1]), os.path.realpath(sys.argv[2])
    problems = Problems()
    dockerfile = {"uid": None, "ports": []}
    # A file missing a key the checks walk through is reported as such, not as a traceback.
    for name, check in (("docker/Dockerfile", lambda: dockerfile.update(check_dockerfile(problems, root, binary))),
                        ("docker/compose.yaml", lambda: check_compose(problems, root, binary, dockerfile)),
                        ("deploy/kubernetes", lambda: check_kubernetes(problems, root, binary, dockerfile))):
        try:
            check()
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, OSError, yaml.YAMLError) as error:
            problems.check(False, name, f"malformed or missing: {type(error).__name__}: {error}")
    for item in problems.items:
        print(f"FAIL {item}")
    print(f"{problems.checked - len(problems.items)} passed, {len(problems.items)} failed")
    return 1 if problems.items else 0


if __name__ == "__main__":
    sys.exit(main())
