#!/usr/bin/env python3
"""Checks of deploy/: render, validate, enforce the hardening, compare Helm.

Run from anywhere: `python3 deploy/check.py` (CI: .ci/run). Steps:

1. Render every kustomization (`kubectl kustomize`): the two overlays and
   the Secrets Store CSI example.
2. Validate every object against the Kubernetes 1.33 JSON schemas, strict
   (unknown fields fail), with the `kubernetes-validate` package.
3. The policy: every point of the design's hardening list, asserted on every
   object and every workload of every rendering (see `policy`).
4. Test the test: mutated copies of a rendering (readOnlyRootFilesystem
   removed, a wildcard verb, `latest`, ...) must each be reported.
5. Helm: `helm template` with the default values renders the same objects as
   the object-storage overlay (and mode=pvc the same as the pvc overlay),
   rendered with Helm's own Go library from the `helm-python-sdk` wheel.
6. The collector's flags used by the manifests exist in `kubetally collect
   --help` of a built binary; the default pricing file passes
   `kubetally pricing validate`.
7. The Dockerfile builds what .ci/run builds, on the pinned bases.

A step whose tool is missing prints SKIP with the reason and the others run.
Exit status 1 if anything failed. The last line is `N passed, N failed`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DEPLOY = Path(__file__).resolve().parent
ROOT = DEPLOY.parent
KUBERNETES_VERSION = "1.33.0"

RENDERINGS = {
    "overlays/object-storage": "object-storage",
    "overlays/pvc": "pvc",
    "examples/secrets-store-csi": "object-storage",
}

NAMESPACE = "kubetally"
NAME = "kubetally"
UID = 65532
METRICS_PORT = 9090
SEMVER_COMMIT = re.compile(r"^(\d+\.\d+\.\d+)-([0-9a-f]{7,40})$")
LABEL_KEYS = ("name", "instance", "version", "component", "part-of")
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod", "ReplicaSet"}

# What each watcher in src/source/watch.rs lists and watches (k8s-openapi type
# -> API group, resource). A new watcher without a row here fails the check.
WATCHED = {
    "Pod": ("", "pods"),
    "Node": ("", "nodes"),
    "Namespace": ("", "namespaces"),
    "ReplicaSet": ("apps", "replicasets"),
    "Deployment": ("apps", "deployments"),
    "StatefulSet": ("apps", "statefulsets"),
    "DaemonSet": ("apps", "daemonsets"),
    "Job": ("batch", "jobs"),
    "CronJob": ("batch", "cronjobs"),
    "HorizontalPodAutoscaler": ("autoscaling", "horizontalpodautoscalers"),
    "PodDisruptionBudget": ("policy", "poddisruptionbudgets"),
    "StorageClass": ("storage.k8s.io", "storageclasses"),
    "PersistentVolume": ("", "persistentvolumes"),
    "PersistentVolumeClaim": ("", "persistentvolumeclaims"),
    "Service": ("", "services"),
}
LEASE_VERBS = {("coordination.k8s.io", "leases", v) for v in ("get", "create", "update")}
# Egress the policy allows: DNS to kube-dns, the API server's ports, HTTPS,
# and the workload-identity metadata servers (link-local addresses only).
METADATA_PORTS = {80, 988}


class Report:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0
        self.skipped = 0

    def ok(self, what: str) -> None:
        self.passed += 1
        print(f"ok    {what}")

    def fail(self, what: str, problems: list[str] | str) -> None:
        self.failed += 1
        print(f"FAIL  {what}")
        for problem in [problems] if isinstance(problems, str) else problems:
            print(f"        - {problem}")

    def check(self, what: str, problems: list[str]) -> None:
        if problems:
            self.fail(what, problems)
        else:
            self.ok(what)

    def skip(self, what: str, reason: str) -> None:
        self.skipped += 1
        print(f"SKIP  {what}: {reason}")


# ---------------------------------------------------------------- rendering


def load_yaml_documents(text: str) -> list[dict]:
    import yaml

    return [doc for doc in yaml.safe_load_all(text) if doc]


def kustomize(path: str) -> list[dict]:
    out = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY / path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return load_yaml_documents(out.stdout)


def key(obj: dict) -> tuple[str, str, str, str]:
    meta = obj.get("metadata", {})
    return (obj.get("apiVersion", ""), obj.get("kind", ""), meta.get("namespace", ""), meta.get("name", ""))


def name_of(obj: dict) -> str:
    meta = obj.get("metadata", {})
    ns = meta.get("namespace")
    return f"{obj.get('kind')}/{ns + '/' if ns else ''}{meta.get('name')}"


# ---------------------------------------------------------------- policy


def expected_cluster_role() -> set[tuple[str, str, str]]:
    """The ClusterRole's (group, resource, verb) triples, read from the code."""
    watch = (ROOT / "src/source/watch.rs").read_text()
    types = re.findall(r"run::<(\w+)>", watch)
    unknown = [t for t in types if t not in WATCHED]
    if unknown or not types:
        raise SystemExit(f"deploy/check.py: watchers of unknown types {unknown}: add them to WATCHED")
    triples = {(*WATCHED[t], verb) for t in types for verb in ("get", "list", "watch")}
    metrics = (ROOT / "src/source/metrics.rs").read_text()
    for group, resource in re.findall(r'"/apis/([a-z0-9.]+)/v1beta1/(\w+)"', metrics):
        triples |= {(group, resource, "get"), (group, resource, "list")}
    return triples


def rules_triples(rules: list[dict]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in rules or []
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    }


def pod_specs(obj: dict) -> list[tuple[dict, dict]]:
    """(pod template metadata, pod spec) of a workload."""
    kind, spec = obj.get("kind"), obj.get("spec", {})
    if kind == "Pod":
        return [(obj.get("metadata", {}), spec)]
    if kind == "CronJob":
        template = spec.get("jobTemplate", {}).get("spec", {}).get("template", {})
    else:
        template = spec.get("template", {})
    return [(template.get("metadata", {}), template.get("spec", {}))]


def matches(selector: dict, labels: dict) -> bool:
    wanted = selector.get("matchLabels", selector) if isinstance(selector, dict) else {}
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def kustomize_hash(data: dict) -> str:
    """kustomize v5's content hash of a ConfigMap (it hashes an empty name)."""
    encoded = json.dumps({"data": data, "kind": "ConfigMap", "name": ""}, sort_keys=True, separators=(",", ":"))
    encoded = encoded.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    digest = hashlib.sha256(encoded.encode()).hexdigest()[:10]
    return digest.translate(str.maketrans("013ae", "ghkmt"))


def flag_values(args: list[str]) -> dict[str, str | None]:
    flags: dict[str, str | None] = {}
    for arg in args:
        if arg.startswith("--"):
            name, _, value = arg.partition("=")
            flags[name] = value if "=" in arg else None
    return flags


def policy(objects: list[dict], mode: str, cargo_version: str) -> list[str]:
    """Every violation of the hardening list in one rendering (empty: none)."""
    problems: list[str] = []
    p = problems.append
    by_kind: dict[str, list[dict]] = {}
    for obj in objects:
        by_kind.setdefault(obj.get("kind", ""), []).append(obj)

    # Everything: stable API versions, labels, no Secrets, no `latest`.
    workloads = [o for o in objects if o.get("kind") in WORKLOAD_KINDS]
    images = [
        c.get("image", "")
        for w in workloads
        for _, spec in pod_specs(w)
        for c in spec.get("containers", []) + spec.get("initContainers", [])
    ]
    tags = {image.rpartition(":")[2] for image in images}
    tag = next(iter(tags)) if len(tags) == 1 else None
    if tag is None:
        p(f"expected one image tag across workloads, found {sorted(tags)}")
    for obj in objects:
        what = name_of(obj)
        api = obj.get("apiVersion", "")
        if not re.fullmatch(r"([a-z0-9.-]+/)?v\d+", api):
            p(f"{what}: apiVersion {api} is not a stable version")
        labels = obj.get("metadata", {}).get("labels") or {}
        for label in LABEL_KEYS:
            if f"app.kubernetes.io/{label}" not in labels:
                p(f"{what}: label app.kubernetes.io/{label} missing")
        if labels.get("app.kubernetes.io/name") != NAME or labels.get("app.kubernetes.io/part-of") != NAME:
            p(f"{what}: labels name/part-of are not {NAME}")
        if tag and labels.get("app.kubernetes.io/version") != tag:
            p(f"{what}: label app.kubernetes.io/version {labels.get('app.kubernetes.io/version')!r} is not the image tag {tag!r}")
        if obj.get("kind") == "Secret":
            p(f"{what}: a Secret in the manifests (credentials come from workload identity or a SecretProviderClass)")
        if obj.get("kind") == "SecretProviderClass" and obj.get("spec", {}).get("secretObjects"):
            p(f"{what}: secretObjects would copy the secret into a Kubernetes Secret")
        if obj.get("kind") not in {"Namespace", "ClusterRole", "ClusterRoleBinding"}:
            if obj.get("metadata", {}).get("namespace") != NAMESPACE:
                p(f"{what}: not in namespace {NAMESPACE}")

    if tag:
        m = SEMVER_COMMIT.match(tag)
        if not m:
            p(f"image tag {tag!r} is not <semver>-<commit> (e.g. 0.1.0-7951117)")
        elif m.group(1) != cargo_version:
            p(f"image tag {tag!r}: version {m.group(1)} is not Cargo.toml's {cargo_version}")
    for image in images:
        if ":" not in image.rpartition("/")[2] or image.endswith(":latest"):
            p(f"image {image!r}: needs a <semver>-<commit> tag, never latest or none")

    # Namespace: Pod Security Admission enforces "restricted".
    for ns in by_kind.get("Namespace", []):
        if ns.get("metadata", {}).get("labels", {}).get("pod-security.kubernetes.io/enforce") != "restricted":
            p(f"{name_of(ns)}: pod-security.kubernetes.io/enforce is not restricted")

    # RBAC: exactly the reads of the code, leases only in object storage mode.
    want_cluster = expected_cluster_role()
    roles = by_kind.get("ClusterRole", []) + by_kind.get("Role", [])
    for role in roles:
        what = name_of(role)
        for rule in role.get("rules", []) or []:
            for field in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
                if any("*" in str(v) for v in rule.get(field, []) or []):
                    p(f"{what}: wildcard in {field}")
            if "secrets" in rule.get("resources", []):
                p(f"{what}: grants access to secrets")
            if rule.get("nonResourceURLs"):
                p(f"{what}: nonResourceURLs")
        if role.get("aggregationRule"):
            p(f"{what}: aggregationRule")
    cluster_roles = by_kind.get("ClusterRole", [])
    if len(cluster_roles) != 1:
        p(f"expected one ClusterRole, found {len(cluster_roles)}")
    for role in cluster_roles:
        got = rules_triples(role.get("rules"))
        if got != want_cluster:
            extra, missing = sorted(got - want_cluster), sorted(want_cluster - got)
            p(f"{name_of(role)}: rules differ from what the collector reads: extra {extra}, missing {missing}")
    namespaced_roles = by_kind.get("Role", [])
    if mode == "object-storage":
        if len(namespaced_roles) != 1:
            p(f"expected one Role (leader election), found {len(namespaced_roles)}")
        for role in namespaced_roles:
            got = rules_triples(role.get("rules"))
            if got != LEASE_VERBS:
                p(f"{name_of(role)}: rules {sorted(got)} are not get/create/update on leases")
    elif namespaced_roles:
        p(f"pvc mode needs no Role (no leader election), found {[name_of(r) for r in namespaced_roles]}")
    role_names = {(r.get("kind"), r.get("metadata", {}).get("name")) for r in roles}
    for binding in by_kind.get("ClusterRoleBinding", []) + by_kind.get("RoleBinding", []):
        ref = binding.get("roleRef", {})
        if (ref.get("kind"), ref.get("name")) not in role_names:
            p(f"{name_of(binding)}: binds {ref.get('kind')}/{ref.get('name')}, which these manifests do not define")
        for subject in binding.get("subjects", []):
            if (subject.get("kind"), subject.get("name"), subject.get("namespace")) != ("ServiceAccount", NAME, NAMESPACE):
                p(f"{name_of(binding)}: subject {subject} is not the collector's ServiceAccount")

    # ServiceAccount: mounts no token unless a pod asks.
    accounts = {sa["metadata"]["name"]: sa for sa in by_kind.get("ServiceAccount", [])}
    for sa in accounts.values():
        if sa.get("automountServiceAccountToken") is not False:
            p(f"{name_of(sa)}: automountServiceAccountToken is not false")

    # ConfigMaps: hashed names that match their content.
    config_names = set()
    for cm in by_kind.get("ConfigMap", []):
        name = cm["metadata"]["name"]
        config_names.add(name)
        m = re.fullmatch(r"(.+)-([a-z0-9]{10})", name)
        if not m or m.group(2) != kustomize_hash(cm.get("data") or {}):
            p(f"{name_of(cm)}: name does not end in the hash of its content (kustomize configMapGenerator)")

    # Workloads.
    kinds = [w.get("kind") for w in workloads]
    want_kind = {"object-storage": "Deployment", "pvc": "StatefulSet"}[mode]
    if kinds != [want_kind]:
        p(f"{mode} mode: expected exactly one {want_kind}, found {kinds}")
    pdbs = by_kind.get("PodDisruptionBudget", [])
    policies = by_kind.get("NetworkPolicy", [])
    for w in workloads:
        what = name_of(w)
        spec = w.get("spec", {})
        replicas = spec.get("replicas", 1)
        selector = spec.get("selector", {}).get("matchLabels", {})
        if "app.kubernetes.io/version" in selector:
            p(f"{what}: the selector holds the version (selectors are immutable)")
        for claim in spec.get("volumeClaimTemplates", []) or []:
            if "app.kubernetes.io/version" in (claim.get("metadata", {}).get("labels") or {}):
                p(f"{what}: volumeClaimTemplates carry the version label (immutable: upgrades would fail)")
        if mode == "object-storage" and replicas != 2:
            p(f"{what}: {replicas} replicas, expected 2 (leader election)")
        if mode == "pvc" and replicas != 1:
            p(f"{what}: {replicas} replicas, expected 1 (one writer per volume)")
        for meta, pod in pod_specs(w):
            labels = meta.get("labels") or {}
            if not matches(selector, labels):
                p(f"{what}: selector does not select its pod template")
            if tag and labels.get("app.kubernetes.io/version") != tag:
                p(f"{what}: pod template label app.kubernetes.io/version is not the image tag")
            problems.extend(f"{what}: {problem}" for problem in pod_policy(pod, labels, mode, accounts, config_names, spec))
            if not any(matches(pdb.get("spec", {}).get("selector", {}), labels) for pdb in pdbs):
                p(f"{what}: no PodDisruptionBudget selects its pods")
            for pdb in pdbs:
                pspec = pdb.get("spec", {})
                if pspec.get("minAvailable") in (replicas, f"{100}%") or pspec.get("maxUnavailable") in (0, "0%"):
                    p(f"{name_of(pdb)}: allows no disruption at all (drains would hang)")
            selecting = [n for n in policies if matches(n.get("spec", {}).get("podSelector", {}), labels)]
            if not selecting:
                p(f"{what}: no NetworkPolicy selects its pods")
            for netpol in selecting:
                problems.extend(f"{name_of(netpol)}: {problem}" for problem in network_policy(netpol))
    if not pdbs:
        p("no PodDisruptionBudget")
    return problems


def port_is_metrics(port) -> bool:
    return port in (METRICS_PORT, "metrics")


def pod_policy(pod: dict, labels: dict, mode: str, accounts: dict, config_names: set, workload_spec: dict) -> list[str]:
    problems: list[str] = []
    p = problems.append
    psc = pod.get("securityContext") or {}
    if psc.get("runAsNonRoot") is not True:
        p("pod securityContext.runAsNonRoot is not true")
    if psc.get("runAsUser") != UID or psc.get("runAsGroup") != UID:
        p(f"pod securityContext.runAsUser/runAsGroup is not {UID}")
    if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        p("pod securityContext.seccompProfile is not RuntimeDefault")
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            p(f"{flag} is set")
    account = pod.get("serviceAccountName")
    if account not in accounts:
        p(f"serviceAccountName {account!r} is not the ServiceAccount of these manifests")
    if pod.get("automountServiceAccountToken") is not True:
        p("automountServiceAccountToken is not explicitly true (the collector needs its token; the account mounts none)")
    spreads = pod.get("topologySpreadConstraints") or []
    if not any(
        t.get("topologyKey") == "topology.kubernetes.io/zone" and matches(t.get("labelSelector", {}), labels)
        for t in spreads
    ):
        p("no topologySpreadConstraint across topology.kubernetes.io/zone selecting its pods")

    volumes = {v.get("name"): v for v in pod.get("volumes", []) or []}
    claims = {c.get("metadata", {}).get("name") for c in workload_spec.get("volumeClaimTemplates", []) or []}
    for name, volume in volumes.items():
        if "hostPath" in volume:
            p(f"volume {name}: hostPath")
        if "secret" in volume:
            p(f"volume {name}: a Secret volume")
        if "emptyDir" in volume and not (volume["emptyDir"] or {}).get("sizeLimit"):
            p(f"volume {name}: emptyDir without sizeLimit")
        if "configMap" in volume and volume["configMap"].get("name") not in config_names:
            p(f"volume {name}: ConfigMap {volume['configMap'].get('name')} is not a generated (hashed) one")

    containers = pod.get("containers", []) or []
    if len(containers) != 1:
        p(f"expected one container, found {len(containers)}")
    for c in containers + (pod.get("initContainers", []) or []):
        cname = f"container {c.get('name')}"
        sc = c.get("securityContext") or {}
        if sc.get("readOnlyRootFilesystem") is not True:
            p(f"{cname}: readOnlyRootFilesystem is not true")
        if sc.get("allowPrivilegeEscalation") is not False:
            p(f"{cname}: allowPrivilegeEscalation is not false")
        if sc.get("privileged"):
            p(f"{cname}: privileged")
        if sc.get("runAsNonRoot") is not True:
            p(f"{cname}: runAsNonRoot is not true")
        if sc.get("runAsUser", UID) != UID or sc.get("runAsGroup", UID) != UID:
            p(f"{cname}: runAsUser/runAsGroup is not {UID}")
        caps = sc.get("capabilities") or {}
        if caps.get("drop") != ["ALL"]:
            p(f"{cname}: capabilities.drop is not [ALL]")
        if caps.get("add"):
            p(f"{cname}: capabilities.add {caps['add']}")
        if (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            p(f"{cname}: seccompProfile is not RuntimeDefault")
        resources = c.get("resources") or {}
        for side in ("requests", "limits"):
            for resource in ("cpu", "memory", "ephemeral-storage"):
                if resource not in (resources.get(side) or {}):
                    p(f"{cname}: resources.{side}.{resource} missing")
        if (resources.get("requests") or {}).get("memory") != (resources.get("limits") or {}).get("memory"):
            p(f"{cname}: memory request differs from its limit (the open hour grows to the limit every hour)")
        ports = [port for port in c.get("ports", []) or []]
        if [(port.get("name"), port.get("containerPort")) for port in ports] != [("metrics", METRICS_PORT)]:
            p(f"{cname}: ports are not exactly metrics/{METRICS_PORT}")
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/readyz")):
            get = (c.get(probe) or {}).get("httpGet") or {}
            if get.get("path") != path or not port_is_metrics(get.get("port")):
                p(f"{cname}: {probe} is not GET {path} on the metrics port")
        startup = c.get("startupProbe") or {}
        if startup.get("periodSeconds", 10) * startup.get("failureThreshold", 3) < 300:
            p(f"{cname}: startupProbe allows under 5 minutes for the initial list")
        for env in c.get("env", []) or []:
            if "valueFrom" in env and "secretKeyRef" in env["valueFrom"]:
                p(f"{cname}: env {env.get('name')} from a Secret")
            if "value" in env and re.search(r"SECRET|PASSWORD|TOKEN$|ACCESS_KEY|_KEY$", env.get("name", "")):
                p(f"{cname}: env {env.get('name')} holds a literal credential")
        if c.get("envFrom"):
            p(f"{cname}: envFrom")

        # Read-only root: every mount is read-only or a volume meant for writing.
        writable = []
        for mount in c.get("volumeMounts", []) or []:
            vname = mount.get("name")
            volume = volumes.get(vname)
            if volume is None and vname not in claims:
                p(f"{cname}: mount {vname} has no volume")
            elif vname in claims or "emptyDir" in (volume or {}):
                writable.append(mount.get("mountPath", ""))
            elif not mount.get("readOnly"):
                p(f"{cname}: mount {vname} is writable but not an emptyDir or claim")
        if "/tmp" not in writable:
            p(f"{cname}: /tmp is not a writable volume")

        flags = flag_values(c.get("args", []) or [])
        out, wal = flags.get("--out") or "", flags.get("--wal-dir")
        env_names = {e.get("name"): e for e in c.get("env", []) or []}
        under = lambda path: any(path == w or path.startswith(w.rstrip("/") + "/") for w in writable)  # noqa: E731
        if mode == "object-storage":
            if not re.match(r"(s3|gs|az)://[^/]+", out):
                p(f"{cname}: --out {out!r} is not an object store URL")
            if not wal or not under(wal):
                p(f"{cname}: --wal-dir {wal!r} is not on a writable volume")
            if "--leader-elect" not in flags:
                p(f"{cname}: --leader-elect missing")
            for var, field in (("POD_NAME", "metadata.name"), ("POD_NAMESPACE", "metadata.namespace")):
                ref = (env_names.get(var) or {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
                if ref != field:
                    p(f"{cname}: env {var} is not the downward API's {field}")
        else:
            if not out.startswith("/") or not any(
                (out == m.get("mountPath") or out.startswith(m.get("mountPath", "") + "/")) and m.get("name") in claims
                for m in c.get("volumeMounts", []) or []
            ):
                p(f"{cname}: --out {out!r} is not on the PersistentVolumeClaim")
            if "--leader-elect" in flags:
                p(f"{cname}: --leader-elect with a single writer on a volume")
        for flag in ("--pricing", "--tenant-map"):
            if not (flags.get(flag) or "").startswith("/etc/kubetally/"):
                p(f"{cname}: {flag} is not read from the ConfigMap mount")
        if (flags.get("--listen") or "0.0.0.0:9090").rpartition(":")[2] != str(METRICS_PORT):
            p(f"{cname}: --listen is not port {METRICS_PORT}")
    return problems


def network_policy(netpol: dict) -> list[str]:
    problems: list[str] = []
    p = problems.append
    spec = netpol.get("spec", {})
    if set(spec.get("policyTypes", [])) != {"Ingress", "Egress"}:
        p("policyTypes is not [Ingress, Egress]")
    ingress = spec.get("ingress")
    if not ingress:
        p("no ingress rule for the metrics port")
    for rule in ingress or []:
        ports = rule.get("ports") or []
        if not ports or any(not port_is_metrics(port.get("port")) or port.get("protocol", "TCP") != "TCP" for port in ports):
            p(f"ingress rule {rule} allows more than TCP {METRICS_PORT}")
    egress = spec.get("egress")
    if not egress:
        p("no egress rules (egress would be closed, or open if Egress is not a policy type)")
    for rule in egress or []:
        ports = rule.get("ports") or []
        numbers = {(port.get("protocol", "TCP"), port.get("port")) for port in ports}
        peers = rule.get("to") or []
        if not ports:
            p(f"egress rule {rule} allows every port")
        elif {n for _, n in numbers} == {53}:
            dns = [peer for peer in peers if (peer.get("podSelector") or {}).get("matchLabels", {}).get("k8s-app") == "kube-dns"]
            if not dns or len(dns) != len(peers):
                p("DNS egress is not limited to kube-dns")
        elif numbers <= {("TCP", 443), ("TCP", 6443)}:
            pass  # the API server; HTTPS to the object store
        elif {n for _, n in numbers} <= METADATA_PORTS:
            cidrs = [(peer.get("ipBlock") or {}).get("cidr", "") for peer in peers]
            if not peers or not all(c.startswith("169.254.") and c.endswith("/32") for c in cidrs):
                p(f"egress to ports {sorted(n for _, n in numbers)} is not limited to the link-local metadata servers")
        else:
            p(f"egress rule allows ports {sorted(str(n) for n in numbers)}")
    return problems


# ---------------------------------------------------------------- mutations


def workload_of(objects: list[dict]) -> dict:
    return next(o for o in objects if o.get("kind") in {"Deployment", "StatefulSet"})


def container(objects: list[dict]) -> dict:
    return workload_of(objects)["spec"]["template"]["spec"]["containers"][0]


def pod(objects: list[dict]) -> dict:
    return workload_of(objects)["spec"]["template"]["spec"]


def first(objects: list[dict], kind: str) -> dict:
    return next(o for o in objects if o.get("kind") == kind)


def drop_kind(kind: str):
    def mutate(objects: list[dict]) -> None:
        objects[:] = [o for o in objects if o.get("kind") != kind]

    return mutate


MUTATIONS = [
    # (what, mutation, a phrase the report must contain)
    ("readOnlyRootFilesystem removed", lambda o: container(o)["securityContext"].pop("readOnlyRootFilesystem"), "readOnlyRootFilesystem"),
    ("runs as root", lambda o: pod(o)["securityContext"].update(runAsUser=0), "runAsUser"),
    ("runAsNonRoot false", lambda o: container(o)["securityContext"].update(runAsNonRoot=False), "runAsNonRoot"),
    ("privilege escalation allowed", lambda o: container(o)["securityContext"].update(allowPrivilegeEscalation=True), "allowPrivilegeEscalation"),
    ("capabilities kept", lambda o: container(o)["securityContext"].pop("capabilities"), "capabilities.drop"),
    ("NET_ADMIN added", lambda o: container(o)["securityContext"]["capabilities"].update(add=["NET_ADMIN"]), "capabilities.add"),
    ("seccomp unconfined", lambda o: pod(o)["securityContext"].update(seccompProfile={"type": "Unconfined"}), "seccompProfile"),
    ("liveness probe removed", lambda o: container(o).pop("livenessProbe"), "livenessProbe"),
    ("readiness probe on /healthz", lambda o: container(o)["readinessProbe"]["httpGet"].update(path="/healthz"), "readinessProbe"),
    ("startup probe removed", lambda o: container(o).pop("startupProbe"), "startupProbe"),
    ("limits removed", lambda o: container(o)["resources"].pop("limits"), "resources.limits"),
    ("no memory request", lambda o: container(o)["resources"]["requests"].pop("memory"), "requests.memory"),
    ("image :latest", lambda o: container(o).update(image="registry.example.com/kubetally:latest"), "latest"),
    ("tag without commit", lambda o: container(o).update(image="registry.example.com/kubetally:0.1.0"), "<semver>-<commit>"),
    ("version label drifts", lambda o: first(o, "Service")["metadata"]["labels"].update({"app.kubernetes.io/version": "0.0.9-abcdef0"}), "version"),
    ("part-of label missing", lambda o: first(o, "ClusterRole")["metadata"]["labels"].pop("app.kubernetes.io/part-of"), "part-of"),
    ("topology spread removed", lambda o: pod(o).pop("topologySpreadConstraints"), "topologySpreadConstraint"),
    ("PodDisruptionBudget removed", drop_kind("PodDisruptionBudget"), "PodDisruptionBudget"),
    ("PDB selects nothing", lambda o: first(o, "PodDisruptionBudget")["spec"].update(selector={"matchLabels": {"app": "other"}}), "PodDisruptionBudget"),
    ("NetworkPolicy removed", drop_kind("NetworkPolicy"), "NetworkPolicy"),
    ("ingress on port 22", lambda o: first(o, "NetworkPolicy")["spec"]["ingress"].append({"ports": [{"port": 22}]}), "ingress"),
    ("ingress from anywhere to any port", lambda o: first(o, "NetworkPolicy")["spec"]["ingress"].append({}), "ingress"),
    ("egress to any port", lambda o: first(o, "NetworkPolicy")["spec"]["egress"].append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}), "egress"),
    ("wildcard verb", lambda o: first(o, "ClusterRole")["rules"][0].update(verbs=["*"]), "wildcard"),
    ("secrets readable", lambda o: first(o, "ClusterRole")["rules"].append({"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}), "secrets"),
    ("write verb on pods", lambda o: first(o, "ClusterRole")["rules"][0]["verbs"].append("delete"), "rules differ"),
    ("a watched resource not granted", lambda o: first(o, "ClusterRole")["rules"].pop(), "missing"),
    ("lease delete", lambda o: first(o, "Role")["rules"][0]["verbs"].append("delete"), "leases"),
    ("a Secret added", lambda o: o.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s3", "namespace": NAMESPACE, "labels": dict(first(o, "Service")["metadata"]["labels"])}, "stringData": {"AWS_SECRET_ACCESS_KEY": "x"}}), "Secret"),
    ("literal credential in env", lambda o: container(o)["env"].append({"name": "AWS_SECRET_ACCESS_KEY", "value": "x"}), "literal credential"),
    ("ConfigMap name unhashed", lambda o: first(o, "ConfigMap")["metadata"].update(name="kubetally-config"), "hash"),
    ("ConfigMap content edited, name kept", lambda o: first(o, "ConfigMap")["data"].update({"tenant-map.txt": "team-* = a\n"}), "hash"),
    ("token mounted by the ServiceAccount", lambda o: first(o, "ServiceAccount").update(automountServiceAccountToken=True), "automountServiceAccountToken"),
    ("hostPath volume", lambda o: pod(o)["volumes"].append({"name": "host", "hostPath": {"path": "/"}}), "hostPath"),
    ("writable mount of a ConfigMap", lambda o: [m.pop("readOnly") for m in container(o)["volumeMounts"] if m["name"] == "config"], "writable"),
    ("/tmp not mounted", lambda o: container(o).update(volumeMounts=[m for m in container(o)["volumeMounts"] if m["mountPath"] != "/tmp"]), "/tmp"),
    ("one replica", lambda o: workload_of(o)["spec"].update(replicas=1), "replicas"),
    ("leader election off", lambda o: container(o)["args"].remove("--leader-elect"), "--leader-elect"),
    ("beta API version", lambda o: first(o, "PodDisruptionBudget").update(apiVersion="policy/v1beta1"), "stable"),
    ("hostNetwork", lambda o: pod(o).update(hostNetwork=True), "hostNetwork"),
]


def self_test(report: Report, baseline: list[dict], cargo_version: str) -> None:
    if policy(baseline, "object-storage", cargo_version):
        report.fail("self-test baseline", "the unmutated object-storage rendering already has violations")
        return
    missed = []
    for what, mutate, phrase in MUTATIONS:
        objects = copy.deepcopy(baseline)
        mutate(objects)
        found = policy(objects, "object-storage", cargo_version)
        if not any(phrase in problem for problem in found):
            missed.append(f"{what}: expected a report containing {phrase!r}, got {found or 'nothing'}")
    report.check(f"policy self-test: each of {len(MUTATIONS)} mutated copies is reported", missed)


# ---------------------------------------------------------------- schemas


def validate_schemas(report: Report, label: str, objects: list[dict]) -> None:
    try:
        import kubernetes_validate
        from kubernetes_validate.utils import SchemaNotFoundError
    except ImportError as error:
        report.skip(f"{label}: Kubernetes {KUBERNETES_VERSION} schemas", f"kubernetes-validate is not installed ({error}); pip install kubernetes-validate")
        return
    problems, crds = [], []
    for obj in objects:
        try:
            version = kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
            if version != "1.33":
                problems.append(f"{name_of(obj)}: validated against {version}, not 1.33")
        except SchemaNotFoundError:
            crds.append(obj)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(item) for item in error.path)
            problems.append(f"{name_of(obj)}: {path}: {error.message}")
    for obj in crds:
        # Not a built-in kind: the only one we ship is the Secrets Store CSI
        # driver's SecretProviderClass (its CRD is not in the schemas).
        spec = obj.get("spec") or {}
        if obj.get("apiVersion") != "secrets-store.csi.x-k8s.io/v1" or obj.get("kind") != "SecretProviderClass":
            problems.append(f"{name_of(obj)}: no schema for {obj.get('apiVersion')} {obj.get('kind')}")
        elif not isinstance(spec.get("provider"), str) or not all(isinstance(v, str) for v in (spec.get("parameters") or {}).values()):
            problems.append(f"{name_of(obj)}: spec.provider and spec.parameters must be strings")
        elif set(spec) - {"provider", "parameters", "secretObjects"}:
            problems.append(f"{name_of(obj)}: unknown spec fields {sorted(set(spec) - {'provider', 'parameters', 'secretObjects'})}")
    extra = f"; {len(crds)} SecretProviderClass checked by shape (a CRD)" if crds else ""
    report.check(f"{label}: {len(objects) - len(crds)} objects valid against Kubernetes {KUBERNETES_VERSION} (strict){extra}", problems)


def schema_self_test(report: Report, baseline: list[dict]) -> None:
    try:
        import kubernetes_validate
    except ImportError:
        return
    bad = copy.deepcopy(workload_of(baseline))
    bad["spec"]["template"]["spec"]["securityContxt"] = {}
    try:
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)
        report.fail("schema self-test", "a misspelled field (securityContxt) passed strict validation")
    except kubernetes_validate.ValidationError:
        report.ok("schema self-test: a misspelled field fails strict validation")


# ---------------------------------------------------------------- helm


def helm_render(values: dict | None) -> list[dict]:
    import helm_python as helm

    with helm.Chart.load(str(DEPLOY / "helm/kubetally")) as chart:
        rendered = chart.render(values, name=NAME, namespace=NAMESPACE, is_install=True)
    objects = []
    for path in sorted(rendered):
        if path.endswith(".yaml"):
            objects.extend(load_yaml_documents(rendered[path]))
    return objects


def compare(left: list[dict], right: list[dict]) -> list[str]:
    a, b = {key(o): o for o in left}, {key(o): o for o in right}
    problems = [f"only in Helm: {k[1]}/{k[3]}" for k in sorted(set(a) - set(b))]
    problems += [f"only in kustomize: {k[1]}/{k[3]}" for k in sorted(set(b) - set(a))]
    for k in sorted(set(a) & set(b)):
        if a[k] != b[k]:
            problems.append(f"{k[1]}/{k[3]} differs: {first_difference(a[k], b[k])}")
    return problems


def first_difference(a, b, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return first_difference(a.get(k), b.get(k), f"{path}.{k}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return first_difference(x, y, f"{path}[{i}]")
    return f"{path or '.'}: Helm {json.dumps(a)[:200]} vs kustomize {json.dumps(b)[:200]}"


def collector_env(objects: list[dict]) -> list[str] | None:
    """The names of the collector container's environment variables."""
    for o in objects:
        if o.get("kind") in ("Deployment", "StatefulSet"):
            return [e.get("name") for e in o["spec"]["template"]["spec"]["containers"][0].get("env", [])]
    return None


def check_helm(report: Report, kustomized: dict[str, list[dict]], cargo_version: str) -> None:
    try:
        import helm_python as helm
    except ImportError as error:
        report.skip(
            "Helm chart renders the kustomize objects",
            f"no Helm renderer: the helm-python-sdk wheel (Helm's Go library) is not installed ({error}); "
            "there is no helm binary in our package registries",
        )
        return
    print(f"      (Helm SDK {helm.helm_sdk_version()} through helm-python-sdk)")
    # Severity 1 is information (e.g. "icon is recommended"); 2 warning, 3 error.
    lint = helm.lint(str(DEPLOY / "helm/kubetally"), strict=True, namespace=NAMESPACE, kube_version="v" + KUBERNETES_VERSION)
    findings = [f"{m.get('path')}: {m.get('error')}" for m in lint.get("messages", []) if m.get("severity", 3) >= 2]
    report.check("helm lint --strict deploy/helm/kubetally", findings + list(lint.get("errors", [])))
    if "overlays/object-storage" in kustomized:
        overlay = kustomized["overlays/object-storage"]
        defaults = helm_render(None)
        without_namespace = [o for o in overlay if o.get("kind") != "Namespace"]
        report.check(
            "helm template (default values) = kustomize overlays/object-storage, less its Namespace (Helm's --create-namespace owns it)",
            compare(defaults, without_namespace),
        )
        report.check(
            "helm template --set namespace.create=true = kustomize overlays/object-storage, object for object",
            compare(helm_render({"namespace": {"create": True}}), overlay),
        )
        validate_schemas(report, "helm (defaults)", defaults)
        changed = compare(helm_render({"replicas": 3, "tenantMap": "team-* = a"}), without_namespace)
        report.check(
            "the comparison itself: Helm with replicas=3 and a tenant map differs from the overlay where it should",
            [] if any(".spec.replicas" in c for c in changed) and any("only in Helm: ConfigMap" in c for c in changed)
            else [f"expected the Deployment's replicas and a new ConfigMap name, got {changed}"],
        )
    if "overlays/pvc" in kustomized:
        report.check(
            "helm template --set mode=pvc,namespace.create=true = kustomize overlays/pvc",
            compare(helm_render({"mode": "pvc", "namespace": {"create": True}}), kustomized["overlays/pvc"]),
        )
    problems = []
    for values in ({"image": {"tag": "latest"}}, {"mode": "local"}):
        try:
            helm_render(values)
            problems.append(f"rendered with {values}")
        except Exception:  # noqa: BLE001 - any render error is the expected refusal
            pass
    report.check("helm refuses image.tag=latest and an unknown mode", problems)
    extra = {"extraEnv": [{"name": "MIMALLOC_PURGE_DELAY", "value": "0"}]}
    got = (collector_env(helm_render(extra)), collector_env(helm_render({**extra, "mode": "pvc"})))
    report.check(
        "helm: extraEnv is added to the collector's environment in both modes",
        [] if got == (["POD_NAME", "POD_NAMESPACE", "MIMALLOC_PURGE_DELAY"], ["MIMALLOC_PURGE_DELAY"])
        else [f"environment variable names (object storage, pvc): {got}"],
    )
    custom = helm_render({"tenantMap": "team-a-* = alpha\n", "pricingOverrides": "gcp,us-central1,e2,,on_demand,0.02,0.003,,,2025-01-01,contract"})
    report.check(
        "helm: custom tenant map and pricing rows pass the policy (hashed ConfigMap name follows the content)",
        policy(custom, "object-storage", cargo_version),
    )


# ---------------------------------------------------------------- collector


def collector_binary() -> Path | None:
    explicit = os.environ.get("KUBETALLY_BIN")
    if explicit:
        return Path(explicit)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    for profile in ("debug", "release", "dist"):
        if (target / profile / "kubetally").is_file():
            return target / profile / "kubetally"
    return None


def check_flags(report: Report, kustomized: dict[str, list[dict]]) -> None:
    binary = collector_binary()
    if binary is None or not binary.is_file():
        report.skip("collector flags exist", "no kubetally binary (set KUBETALLY_BIN or build it first)")
        return
    help_text = subprocess.run([str(binary), "collect", "--help"], capture_output=True, text=True).stdout
    known = set(re.findall(r"(--[a-z][a-z0-9-]*)", help_text))
    problems = []
    for label, objects in kustomized.items():
        for w in objects:
            if w.get("kind") in WORKLOAD_KINDS:
                for _, spec in pod_specs(w):
                    for c in spec.get("containers", []):
                        for flag in flag_values(c.get("args", [])):
                            if flag not in known:
                                problems.append(f"{label}: {flag} is not a flag of `{binary.name} collect`")
    report.check(f"every flag the manifests pass exists in `kubetally collect --help` ({binary})", sorted(set(problems)))
    with tempfile.TemporaryDirectory() as tmp:
        for cm in (o for o in kustomized.get("overlays/object-storage", []) if o.get("kind") == "ConfigMap"):
            csv = Path(tmp) / "pricing.csv"
            csv.write_text(cm["data"]["pricing.csv"])
            run = subprocess.run([str(binary), "pricing", "validate", str(csv)], capture_output=True, text=True)
            report.check("the ConfigMap's pricing.csv passes `kubetally pricing validate`", [] if run.returncode == 0 else [run.stdout + run.stderr])


# ---------------------------------------------------------------- Dockerfile


def check_dockerfile(report: Report) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    ci = (ROOT / ".ci/run").read_text()
    problems = []
    froms = re.findall(r"^FROM\s+(\S+)", dockerfile, re.M)
    if len(froms) < 2:
        problems.append("not a multi-stage build")
    else:
        if not re.fullmatch(r"rust:\d+\.\d+(\.\d+)?-(slim-)?bookworm", froms[0]):
            problems.append(f"builder {froms[0]} is not an official rust image pinned to a version on bookworm (the runtime's Debian 12)")
        if froms[-1] != "gcr.io/distroless/cc-debian12:nonroot":
            problems.append(f"runtime base {froms[-1]} is not gcr.io/distroless/cc-debian12:nonroot")
    if any(f.endswith(":latest") or ":" not in f for f in froms):
        problems.append("a FROM without a version tag")
    build = re.search(r"(cargo build [^\n&\\]*)", dockerfile)
    if not build:
        problems.append("no cargo build")
    else:
        command = build.group(1).strip()
        for flag in ("--profile dist", "--locked", "--no-default-features"):
            if flag not in command:
                problems.append(f"cargo build without {flag}")
        if command not in ci:
            problems.append(f".ci/run does not run the Dockerfile's `{command}`")
    if not re.search(r"^USER\s+65532(:65532)?\s*$", dockerfile, re.M):
        problems.append("USER is not 65532")
    if not re.search(r'^ENTRYPOINT\s+\["/usr/local/bin/kubetally",\s*"collect"\]', dockerfile, re.M):
        problems.append('ENTRYPOINT is not ["/usr/local/bin/kubetally", "collect"]')
    for label in ("source", "version", "revision", "licenses", "title", "created"):
        if f"org.opencontainers.image.{label}" not in dockerfile:
            problems.append(f"OCI label org.opencontainers.image.{label} missing")
    report.check("Dockerfile: multi-stage, pinned official bases, non-root, OCI labels, same build as CI", problems)


# ---------------------------------------------------------------- main


def cargo_version() -> str:
    m = re.search(r'^version\s*=\s*"([^"]+)"', (ROOT / "Cargo.toml").read_text(), re.M)
    return m.group(1) if m else "?"


def check_release_consistency(report: Report, kustomized: dict[str, list[dict]]) -> None:
    chart = (DEPLOY / "helm/kubetally/Chart.yaml").read_text()
    app = re.search(r'^appVersion:\s*"?([^"\n]+)"?', chart, re.M)
    problems = []
    tags = set()
    for label, objects in kustomized.items():
        for w in objects:
            if w.get("kind") in WORKLOAD_KINDS:
                tags |= {c["image"].rpartition(":")[2] for _, s in pod_specs(w) for c in s.get("containers", [])}
    if len(tags) != 1:
        problems.append(f"the renderings use different image tags: {sorted(tags)}")
    if app and tags and app.group(1) != next(iter(tags)):
        problems.append(f"Chart.yaml appVersion {app.group(1)} is not the overlays' tag {sorted(tags)}")
    for t in tags:
        m = SEMVER_COMMIT.match(t)
        if m and shutil.which("git") and (ROOT / ".git").exists():
            known = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{m.group(2)}^{{commit}}"], capture_output=True)
            shallow = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--is-shallow-repository"], capture_output=True, text=True).stdout.strip()
            if known.returncode != 0 and shallow != "true":
                problems.append(f"image tag {t}: {m.group(2)} is not a commit of this repository")
    report.check("one release: overlays' image tags, version labels and Chart appVersion agree; the tag names a commit of ours", problems)


def main() -> int:
    report = Report()
    version = cargo_version()
    try:
        import yaml  # noqa: F401
    except ImportError as error:
        report.skip("every deploy/ check", f"PyYAML is not installed ({error}); pip install pyyaml")
        print(f"\n{report.passed} passed, {report.failed} failed, {report.skipped} skipped")
        return 0

    kustomized: dict[str, list[dict]] = {}
    if shutil.which("kubectl") is None:
        report.skip("kustomize renderings", "kubectl is not on PATH")
    else:
        for path, mode in RENDERINGS.items():
            try:
                objects = kustomize(path)
            except subprocess.CalledProcessError as error:
                report.fail(f"kubectl kustomize deploy/{path}", error.stderr.strip())
                continue
            kustomized[path] = objects
            report.ok(f"kubectl kustomize deploy/{path}: {len(objects)} objects")
            validate_schemas(report, f"deploy/{path}", objects)
            report.check(f"deploy/{path}: hardening policy ({mode} mode)", policy(objects, mode, version))

    if "overlays/object-storage" in kustomized:
        self_test(report, kustomized["overlays/object-storage"], version)
        schema_self_test(report, kustomized["overlays/object-storage"])
        check_release_consistency(report, kustomized)
    check_helm(report, kustomized, version)
    check_flags(report, kustomized)
    check_dockerfile(report)

    print(f"\n{report.passed} passed, {report.failed} failed, {report.skipped} skipped")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
