"""The Kubernetes driver's objects (manifests.py) pass kubernetes-validate's strict schemas for 1.20 and 1.28.

Offline and engine-free: kubernetes-validate ships the OpenAPI schemas as JSON files. Its 1.28.x releases are the
last to ship both 1.20's schemas (the cluster version we run: autoscaling/v2beta2, batch/v1beta1,
policy/v1beta1) and a current one's (autoscaling/v2, batch/v1, policy/v1); later releases drop 1.20 (1.29-1.32
start at 1.22, 1.37 at 1.25), hence the `<1.29` pin in the workspace's dev group. Strict: a field the schema does
not know fails here, where a 1.20 API server would silently drop it.
"""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest

from deployer.runtime import spec as S
from deployer.runtime.kubernetes import jobs as J
from deployer.runtime.kubernetes import manifests as M
from slipway.desired import (
    ClusterTarget,
    DesiredState,
    ImageSource,
    JobSchedule,
    Port,
    ProbeSpec,
    RegistryRef,
    SecretFile,
    ServiceSpec,
    VolumeSpec,
)

from .fakes import container, environment

# kubernetes-validate 1.28 resolves `$ref` with jsonschema's deprecated RefResolver and schemas without a known $schema
pytestmark = pytest.mark.filterwarnings(
    "ignore:jsonschema.RefResolver is deprecated:DeprecationWarning",
    "ignore:The metaschema specified by \\$schema was not found:DeprecationWarning",
)

INSTALLATION = "inst-k8s"
IMAGE = "registry.example.com/team/web:1.4.2"
GRACE = 30


def rendered(state: DesiredState, service: ServiceSpec, versions: M.Versions) -> list[dict[str, Any]]:
    """Every object the driver applies for `service`, rendered as the driver renders it (one list: add renderers
    here — Job, CronJob, StatefulSet, Ingress — and every case below validates them)."""
    registries = [r for r in (state.cluster.registry, service.image.registry if service.image else None) if r]
    pull = M.pull_secret(state, registries, INSTALLATION)
    pull_secrets = [M.PULL_SECRET] if pull else []
    objects = [
        M.namespace(state, INSTALLATION),
        pull,
        M.env_secret(state, service, INSTALLATION),
        M.files_secret(state, service, INSTALLATION),
        M.deployment(state, service, IMAGE, INSTALLATION, pull_secrets, GRACE, M.replicas_of(service)),
        M.service_object(state, service, INSTALLATION),
        M.disruption_budget(state, service, INSTALLATION, versions),
        M.autoscaler(state, service, INSTALLATION, versions),
        # the same service as a lifecycle run and on a schedule: the Job and the CronJob renderers
        J.job(state, service, IMAGE, INSTALLATION, pull_secrets, 600, "run-1"),
        J.cron_job(state, as_cron(service), IMAGE, INSTALLATION, pull_secrets, 600, versions.batch_cron),
        # the same service with storage (a StatefulSet with a claim), and behind the cluster's ingress controller
        M.stateful_set(state, with_volume(service), IMAGE, INSTALLATION, pull_secrets, GRACE, "fast"),
        M.ingress(state, service, INSTALLATION, S.public_routes(state, service)),
    ]
    return [o for o in objects if o is not None]


def with_volume(service: ServiceSpec) -> ServiceSpec:
    return service.model_copy(update={"volumes": [VolumeSpec(id="v1", mount_point="/data", size_gib=2)]})


def as_cron(service: ServiceSpec) -> ServiceSpec:
    return service.model_copy(update={"kind": "JOB", "job": JobSchedule(kind="CRON", cron="*/5 * * * *")})


# Kubernetes version → the API versions its discovery makes the driver pick (KubernetesDriver.versions)
KUBERNETES = {
    "1.20": M.Versions(
        autoscaling="autoscaling/v2beta2", batch_cron="batch/v1beta1", policy="policy/v1beta1", minor=20
    ),
    "1.28": M.Versions(autoscaling="autoscaling/v2", batch_cron="batch/v1", policy="policy/v1", minor=28),
}

CLUSTER_REGISTRY = RegistryRef(
    id="cr", url="https://registry.example.com/", kind="GENERIC_CR", username="robot", password="s3cret"
)


def on_kubernetes(*services: ServiceSpec) -> DesiredState:
    """The fakes' environment, on a Kubernetes cluster whose registry needs credentials (a pull Secret)."""
    state = environment(list(services))
    cluster = ClusterTarget(
        id="k",
        engine="kubernetes",
        base_domain="apps.example.com",
        registry=CLUSTER_REGISTRY,
        ingress_class="nginx",
        ingress_issuer="letsencrypt",
    )
    return state.model_copy(update={"cluster": cluster})


def web() -> ServiceSpec:
    """Ports of every protocol, HTTPS readiness and TCP liveness, variables, secret files, 2–4 instances."""
    ports = [
        Port(id="a", name="web", internal_port=8080, publicly_accessible=True, is_default=True, protocol="HTTP"),
        Port(id="b", name="rpc", internal_port=9090, publicly_accessible=True, is_default=False, protocol="GRPC"),
        Port(id="c", name="stats", internal_port=8125, publicly_accessible=False, is_default=False, protocol="UDP"),
        Port(id="d", name="db", internal_port=5432, publicly_accessible=False, is_default=False, protocol="TCP"),
    ]
    files = [
        SecretFile(key="TLS_KEY", path="/etc/web/tls.key", content="-----BEGIN KEY-----", is_secret=True),
        SecretFile(key="CONF", path="/etc/web/app.conf", content="listen 8080\n"),
    ]
    return container("web").model_copy(
        update={
            "custom_domains": ["shop.example.com"],
            "image": ImageSource(registry=CLUSTER_REGISTRY, image_name="team/web", tag="1.4.2"),
            "cpu": 250,
            "memory": 128,
            "min_running_instances": 2,
            "max_running_instances": 4,
            "ports": ports,
            "readiness_probe": ProbeSpec(
                kind="http", port=8080, path="/ready", scheme="https", initial_delay_seconds=5
            ),
            "liveness_probe": ProbeSpec(kind="tcp", port=8080, period_seconds=20, success_threshold=3),
            "env": {"GREETING": "hello", "DATABASE_URL": "postgres://u:p@db/app", "not a key": "dropped"},
            "secret_keys": ["DATABASE_URL", "TLS_KEY"],
            "files": files,
        }
    )


def worker() -> ServiceSpec:
    """No port (no Service), exec probes, a command, three fixed instances (a budget, no autoscaler)."""
    command = ["sh", "-c", "test -f /tmp/ready"]
    return container("worker").model_copy(
        update={
            "entrypoint": "/bin/worker",
            "arguments": ["--queue", "jobs"],
            "min_running_instances": 3,
            "max_running_instances": 3,
            "readiness_probe": ProbeSpec(kind="exec", command=command, period_seconds=2),
            "liveness_probe": ProbeSpec(kind="exec", command=command, failure_threshold=5),
            "env": {"QUEUE": "jobs"},
        }
    )


def grpc() -> ServiceSpec:
    """A gRPC probe (run as a TCP check) and default-path HTTP liveness, one instance, a public registry."""
    public = RegistryRef(id="hub", url="https://docker.io", kind="DOCKER_HUB")
    port = Port(id="g", name="grpc", internal_port=50051, publicly_accessible=True, is_default=True, protocol="GRPC")
    return container("grpc").model_copy(
        update={
            "image": ImageSource(registry=public, image_name="library/grpc", tag="1"),
            "ports": [port],
            "readiness_probe": ProbeSpec(kind="grpc", port=50051),
            "liveness_probe": ProbeSpec(kind="http", port=50051),
        }
    )


def bare() -> ServiceSpec:
    """Nothing optional: no port, probe, variable or file."""
    return container("bare")


SERVICES = {"web": web, "worker": worker, "grpc": grpc, "bare": bare}


def defects(objects: list[dict[str, Any]], kubernetes: str) -> list[str]:
    """`kind/name: field: message` for each object the strict schemas of `kubernetes` reject (first error each)."""
    found = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, kubernetes, strict=True)
        except kubernetes_validate.ValidationError as e:
            where = ".".join(str(p) for p in e.path) or "(top)"
            found.append(f"{obj['kind']} {obj['apiVersion']} {obj['metadata']['name']}: {where}: {e.message}")
        except kubernetes_validate.SchemaNotFoundError as e:
            found.append(f"{obj['kind']} {obj['metadata']['name']}: {e.message}")
    return found


@pytest.mark.parametrize("kubernetes", sorted(KUBERNETES))
@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_object_passes_the_strict_schemas(kubernetes: str, name: str) -> None:
    service = SERVICES[name]()
    state = on_kubernetes(service)
    assert defects(rendered(state, service, KUBERNETES[kubernetes]), kubernetes) == []


def test_the_cases_render_every_kind_and_variant() -> None:
    """The cases above exercise what they claim: each object kind, each probe handler, the autoscaler and budget."""
    versions = KUBERNETES["1.28"]
    kinds: dict[str, set[str]] = {}
    for name, make in SERVICES.items():
        service = make()
        for obj in rendered(on_kubernetes(service), service, versions):
            kinds.setdefault(name, set()).add(obj["kind"])
    assert kinds["web"] == {
        "Namespace",
        "Secret",
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "Job",
        "CronJob",
        "StatefulSet",
        "Ingress",
    }
    every = {"Namespace", "Secret", "Deployment", "Job", "CronJob", "StatefulSet"}
    assert kinds["worker"] == every | {"PodDisruptionBudget"}
    assert kinds["bare"] == every
    service = web()
    secrets = [o for o in rendered(on_kubernetes(service), service, versions) if o["kind"] == "Secret"]
    assert {s["type"] for s in secrets} == {"Opaque", "kubernetes.io/dockerconfigjson"} and len(secrets) == 3
    handlers: set[str] = set()
    for make in SERVICES.values():
        app = M.container(make(), IMAGE)
        for probe in ("readinessProbe", "livenessProbe"):
            handlers |= set(app.get(probe, {})) & {"httpGet", "tcpSocket", "exec"}
    assert handlers == {"httpGet", "tcpSocket", "exec"}


def test_strict_mode_rejects_a_field_kubernetes_does_not_know() -> None:
    """The check has teeth: an unknown field in the pod template fails for both versions."""
    service = web()
    deployment = M.deployment(on_kubernetes(service), service, IMAGE, INSTALLATION, [], GRACE, None)
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    for kubernetes in KUBERNETES:
        found = defects([deployment], kubernetes)
        assert len(found) == 1 and "'readinesProbe' was unexpected" in found[0], found


def test_the_autoscaler_on_autoscaling_v1() -> None:
    """autoscaling/v1, the driver's last discovery fallback, has no `metrics`: one CPU target field instead."""
    service = web()
    versions = M.Versions(autoscaling="autoscaling/v1", batch_cron="batch/v1beta1", policy="policy/v1beta1")
    hpa = [o for o in rendered(on_kubernetes(service), service, versions) if o["kind"] == "HorizontalPodAutoscaler"]
    assert hpa and "targetCPUUtilizationPercentage" in hpa[0]["spec"]
    for kubernetes in KUBERNETES:
        assert defects(hpa, kubernetes) == []


@pytest.mark.parametrize("kind", ["http", "tcp", "grpc"])
def test_a_probe_without_a_port_checks_the_default_port(kind: str) -> None:
    service = web().model_copy(update={"readiness_probe": ProbeSpec.model_validate({"kind": kind, "path": "/"})})
    objects = rendered(on_kubernetes(service), service, KUBERNETES["1.28"])
    assert defects(objects, "1.28") == []
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    probe = deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    assert (probe.get("httpGet") or probe.get("tcpSocket"))["port"] == 8080  # the default port
