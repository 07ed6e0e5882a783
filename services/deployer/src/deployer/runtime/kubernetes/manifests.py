"""What a service looks like on Kubernetes: namespace, Secret, Deployment, Service, PDB, HPA (plain dicts).

Pure functions of the desired state: the driver applies them with server-side apply. Every object carries
Slipway's labels (`slipway.dev/*`), so the driver finds, adopts and deletes by label alone.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from deployer.runtime import spec as S
from slipway.desired import DesiredState, ProbeSpec, RegistryRef, ServiceSpec, kubernetes_namespace

L = "slipway.dev/"
L_MANAGED = L + "managed-by"
L_INSTALLATION = L + "installation"
L_ORG = L + "organization-id"
L_PROJECT = L + "project-id"
L_ENV = L + "environment-id"
L_SERVICE = L + "service-id"
L_KIND = L + "service-kind"
A_CHECKSUM = L + "config-checksum"  # on the pod template: a changed variable or file rolls the pods
A_ROUTES = L + "routes"  # on the Service: the edge routes, JSON [[host, port, prefix], …] (adoption reads it)
A_NAME = L + "service-name"
A_RESTARTED = L + "restarted"  # on the pod template: set by a restart (and the drift correction) to roll the pods
A_DEPLOYMENT = L + "deployment-id"
MANAGED_BY = "slipway-deployer"
PULL_SECRET = "slipway-registry"


@dataclass(frozen=True)
class Versions:
    """API versions the cluster serves (discovery): HPA, CronJob, PDB."""

    autoscaling: str = "autoscaling/v2"
    batch_cron: str = "batch/v1"
    policy: str = "policy/v1"
    minor: int = 30  # the server's minor version (features newer than 1.20 are used only where served)


def namespace_of(state: DesiredState) -> str:
    return kubernetes_namespace(state.environment_id)


def base_labels(state: DesiredState, installation: str) -> dict[str, str]:
    return {
        L_MANAGED: MANAGED_BY,
        L_INSTALLATION: installation,
        L_ORG: state.organization_id,
        L_PROJECT: state.project_id,
        L_ENV: state.environment_id,
    }


def service_labels(state: DesiredState, service: ServiceSpec, installation: str) -> dict[str, str]:
    return {**base_labels(state, installation), L_SERVICE: service.id, L_KIND: service.kind}


def selector(service_id: str) -> dict[str, str]:
    return {L_SERVICE: service_id}


def workload_name(service: ServiceSpec) -> str:
    """The Deployment's, the Service's and the pods' base name: the service's internal host (`app-z…`)."""
    return service.internal_host


def namespace(state: DesiredState, installation: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": namespace_of(state), "labels": base_labels(state, installation)},
    }


def _meta(state: DesiredState, service: ServiceSpec, name: str, installation: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": namespace_of(state),
        "labels": service_labels(state, service, installation),
        "annotations": {A_NAME: service.name[:253]},
    }


def restart_patch(stamp: str) -> dict[str, Any]:
    """The merge patch that rolls a workload's pods: a new value of the template's restart annotation."""
    return {"spec": {"template": {"metadata": {"annotations": {A_RESTARTED: stamp}}}}}


def config_checksum(service: ServiceSpec) -> str:
    """A digest of what the pods read from Secrets (variables and files)."""
    content = json.dumps(
        [sorted(service.env.items()), [(f.path, f.content) for f in service.files]], separators=(",", ":")
    )
    return hashlib.sha256(content.encode()).hexdigest()[:32]


def env_secret(state: DesiredState, service: ServiceSpec, installation: str) -> dict[str, Any]:
    """The service's variables (secrets decrypted) as one Secret the containers read with `envFrom`."""
    data = {k: base64.b64encode(v.encode()).decode() for k, v in sorted(service.env.items()) if _env_key(k)}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(state, service, f"{workload_name(service)}-env", installation),
        "type": "Opaque",
        "data": data,
    }


def files_secret(state: DesiredState, service: ServiceSpec, installation: str) -> dict[str, Any] | None:
    if not service.files:
        return None
    data = {f"f{i}": base64.b64encode(f.content.encode()).decode() for i, f in enumerate(service.files)}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(state, service, f"{workload_name(service)}-files", installation),
        "type": "Opaque",
        "data": data,
    }


def _env_key(key: str) -> bool:
    """Secret keys (and so variable names) Kubernetes accepts: [-._a-zA-Z0-9]+."""
    return bool(key) and all(c.isalnum() or c in "-._" for c in key)


def registry_host(registry: RegistryRef) -> str:
    url = registry.url.split("://", 1)[-1]
    return url.rstrip("/").split("/")[0]


def pull_secret(state: DesiredState, registries: list[RegistryRef], installation: str) -> dict[str, Any] | None:
    """A dockerconfigjson Secret with the credentials of every registry the namespace pulls from."""
    auths = {}
    for registry in registries:
        if registry.username and registry.password:
            token = base64.b64encode(f"{registry.username}:{registry.password}".encode()).decode()
            auths[registry_host(registry)] = {"auth": token}
    if not auths:
        return None
    document = json.dumps({"auths": dict(sorted(auths.items()))}, separators=(",", ":"))
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": PULL_SECRET, "namespace": namespace_of(state), "labels": base_labels(state, installation)},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(document.encode()).decode()},
    }


def probe(spec: ProbeSpec | None, default_port: int | None = None) -> dict[str, Any] | None:
    """Qovery's healthcheck as a Kubernetes probe (HTTP, TCP, exec, gRPC); a probe naming no port checks the
    service's default port (none at all: no probe, there is nothing to check)."""
    if spec is None:
        return None
    port = spec.port or default_port
    if port is None and spec.kind != "exec":
        return None
    out: dict[str, Any] = {
        "initialDelaySeconds": spec.initial_delay_seconds,
        "periodSeconds": max(spec.period_seconds, 1),
        "timeoutSeconds": max(spec.timeout_seconds, 1),
        "successThreshold": max(spec.success_threshold, 1),
        "failureThreshold": max(spec.failure_threshold, 1),
    }
    if spec.kind == "http":
        out["httpGet"] = {"path": spec.path or "/", "port": port, "scheme": (spec.scheme or "HTTP").upper()}
    elif spec.kind == "tcp":
        out["tcpSocket"] = {"port": port}
    elif spec.kind == "exec":
        out["exec"] = {"command": list(spec.command or [])}
    else:  # grpc probes are beta before 1.24: a TCP check of the port is what every version runs
        out["tcpSocket"] = {"port": port}
    return out


def default_port(service: ServiceSpec) -> int | None:
    chosen = next((p for p in service.ports if p.is_default), service.ports[0] if service.ports else None)
    return chosen.internal_port if chosen else None


def liveness(spec: ProbeSpec | None, port: int | None = None) -> dict[str, Any] | None:
    found = probe(spec, port)
    if found is not None:
        found["successThreshold"] = 1  # Kubernetes requires 1 for liveness
    return found


def resources(service: ServiceSpec) -> dict[str, Any]:
    amounts = {"cpu": f"{max(service.cpu, 1)}m", "memory": f"{max(service.memory, 1)}Mi"}
    return {"requests": dict(amounts), "limits": dict(amounts)}


def container(service: ServiceSpec, image: str, checksum_env: bool = True) -> dict[str, Any]:
    name = workload_name(service)
    out: dict[str, Any] = {
        "name": "app",
        "image": image,
        "imagePullPolicy": "Always" if image.endswith(":latest") else "IfNotPresent",
        "envFrom": [{"secretRef": {"name": f"{name}-env"}}],
        "resources": resources(service),
    }
    if service.entrypoint:
        out["command"] = [service.entrypoint]
    if service.arguments:
        out["args"] = list(service.arguments)
    ports = [{"name": f"p{p.internal_port}", "containerPort": p.internal_port, "protocol": _protocol(p.protocol)}
             for p in service.ports]  # fmt: skip
    if ports:
        out["ports"] = ports
    readiness = probe(service.readiness_probe, default_port(service))
    if readiness is not None:
        out["readinessProbe"] = readiness
    alive = liveness(service.liveness_probe, default_port(service))
    if alive is not None:
        out["livenessProbe"] = alive
    if service.files:
        out["volumeMounts"] = [
            {"name": "files", "mountPath": f.path, "subPath": f"f{i}", "readOnly": True}
            for i, f in enumerate(service.files)
        ]
    return out


def _protocol(protocol: str) -> str:
    return "UDP" if protocol == "UDP" else "TCP"


def pod_template(
    state: DesiredState, service: ServiceSpec, image: str, installation: str, pull_secrets: list[str], grace: int
) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "containers": [container(service, image)],
        "terminationGracePeriodSeconds": grace,
        # the pause container is PID 1 (as the docker engine's init is): an app that sets no SIGTERM handler
        # is stopped by the signal at once instead of being killed when the grace period ends
        "shareProcessNamespace": True,
        "enableServiceLinks": False,  # Docker-link style variables would shadow the service's own
        "automountServiceAccountToken": False,
    }
    if pull_secrets:
        pod["imagePullSecrets"] = [{"name": n} for n in pull_secrets]
    if service.files:
        pod["volumes"] = [{"name": "files", "secret": {"secretName": f"{workload_name(service)}-files"}}]
    return {
        "metadata": {
            "labels": service_labels(state, service, installation),
            "annotations": {A_CHECKSUM: config_checksum(service)},
        },
        "spec": pod,
    }


def progress_deadline(service: ServiceSpec) -> int:
    """How long a rollout may take before Kubernetes calls it failed: the readiness budget plus pulling."""
    p = service.readiness_probe
    budget = 0 if p is None else p.initial_delay_seconds + p.period_seconds * p.failure_threshold + p.timeout_seconds
    return max(120, budget + 90)


def deployment(
    state: DesiredState,
    service: ServiceSpec,
    image: str,
    installation: str,
    pull_secrets: list[str],
    grace: int,
    replicas: int | None,
) -> dict[str, Any]:
    """Zero-downtime rolling update: a new pod must be ready before an old one goes (maxUnavailable 0)."""
    spec: dict[str, Any] = {
        "selector": {"matchLabels": selector(service.id)},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
        "revisionHistoryLimit": 5,
        "progressDeadlineSeconds": progress_deadline(service),
        "template": pod_template(state, service, image, installation, pull_secrets, grace),
    }
    if replicas is not None:  # None: the HorizontalPodAutoscaler owns the count
        spec["replicas"] = replicas
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(state, service, workload_name(service), installation),
        "spec": spec,
    }


def claim_name(volume_id: str) -> str:
    return f"v-{hashlib.sha256(volume_id.encode()).hexdigest()[:12]}"


def stateful_set(
    state: DesiredState,
    service: ServiceSpec,
    image: str,
    installation: str,
    pull_secrets: list[str],
    grace: int,
    storage_class: str | None = None,
) -> dict[str, Any]:
    """A service with storage: each instance keeps its own volume claims across versions; an update replaces
    one pod at a time (stop, then start on the same volume: never two pods on one volume)."""
    template = pod_template(state, service, image, installation, pull_secrets, grace)
    mounts = [{"name": claim_name(v.id), "mountPath": v.mount_point} for v in service.volumes]
    container = template["spec"]["containers"][0]
    container["volumeMounts"] = [*container.get("volumeMounts", []), *mounts]
    claims = []
    for volume in service.volumes:
        spec: dict[str, Any] = {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": f"{max(volume.size_gib, 1)}Gi"}},
        }
        if storage_class:
            spec["storageClassName"] = storage_class
        labels = service_labels(state, service, installation)
        claims.append({"metadata": {"name": claim_name(volume.id), "labels": labels}, "spec": spec})
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _meta(state, service, workload_name(service), installation),
        "spec": {
            "selector": {"matchLabels": selector(service.id)},
            "serviceName": workload_name(service),
            "replicas": max(service.min_running_instances, 1),
            "podManagementPolicy": "OrderedReady",
            "updateStrategy": {"type": "RollingUpdate"},
            "revisionHistoryLimit": 5,
            "template": template,
            "volumeClaimTemplates": claims,
        },
    }


def service_object(state: DesiredState, service: ServiceSpec, installation: str) -> dict[str, Any] | None:
    """The ClusterIP Service named after the internal host, one port entry per port; its annotation keeps the
    public routes so a restarted deployer re-routes the edge from the cluster alone."""
    if not service.ports:
        return None
    meta = _meta(state, service, workload_name(service), installation)
    # an ingress controller serves the public hosts of such a cluster: nothing for Slipway's edge to adopt
    edge_routes = [] if state.cluster.ingress_class else S.public_routes(state, service)
    meta["annotations"][A_ROUTES] = S.encode_routes(edge_routes)
    ports = [
        {"name": f"p{p.internal_port}", "port": p.internal_port, "targetPort": p.internal_port,
         "protocol": _protocol(p.protocol)}
        for p in service.ports
    ]  # fmt: skip
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {"type": "ClusterIP", "selector": selector(service.id), "ports": ports},
    }


def ingress(
    state: DesiredState, service: ServiceSpec, installation: str, routes: list[S.PublicRoute]
) -> dict[str, Any] | None:
    """For a cluster with an ingress controller: the public hosts (custom domains included) to the Service, TLS
    from cert-manager when the cluster names an issuer."""
    klass, issuer = state.cluster.ingress_class, state.cluster.ingress_issuer
    if not klass or not routes or not service.ports:
        return None
    rules: dict[str, list[dict[str, Any]]] = {}
    for route in routes:
        backend = {"service": {"name": workload_name(service), "port": {"number": route.port}}}
        path = {"path": route.path_prefix or "/", "pathType": "Prefix", "backend": backend}
        rules.setdefault(route.host, []).append(path)
    meta = _meta(state, service, workload_name(service), installation)
    spec: dict[str, Any] = {
        "ingressClassName": klass,
        "rules": [{"host": host, "http": {"paths": paths}} for host, paths in sorted(rules.items())],
    }
    if issuer:
        meta["annotations"]["cert-manager.io/cluster-issuer"] = issuer
        spec["tls"] = [{"hosts": sorted(rules), "secretName": f"{workload_name(service)}-tls"}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": spec}


def disruption_budget(
    state: DesiredState, service: ServiceSpec, installation: str, versions: Versions
) -> dict[str, Any] | None:
    """With more than one instance, voluntary evictions take at most one at a time."""
    if max(service.min_running_instances, service.max_running_instances) < 2:
        return None
    return {
        "apiVersion": versions.policy,
        "kind": "PodDisruptionBudget",
        "metadata": _meta(state, service, workload_name(service), installation),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(service.id)}},
    }


def autoscaler(
    state: DesiredState, service: ServiceSpec, installation: str, versions: Versions
) -> dict[str, Any] | None:
    """min < max instances: scale on CPU (60 % of the request), between the two."""
    low, high = max(service.min_running_instances, 1), service.max_running_instances
    if high <= low:
        return None
    metric = {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}},
    }
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": workload_name(service)},
        "minReplicas": low,
        "maxReplicas": high,
    }
    if versions.autoscaling == "autoscaling/v1":  # no metrics list in v1: the CPU target is one field
        spec["targetCPUUtilizationPercentage"] = 60
    else:
        spec["metrics"] = [metric]
    return {
        "apiVersion": versions.autoscaling,
        "kind": "HorizontalPodAutoscaler",
        "metadata": _meta(state, service, workload_name(service), installation),
        "spec": spec,
    }


def replicas_of(service: ServiceSpec) -> int | None:
    low, high = max(service.min_running_instances, 1), service.max_running_instances
    return None if high > low else low


def label_selector(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
