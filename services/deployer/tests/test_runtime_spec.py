"""The container shape of a service (runtime/spec.py): spec hash, routes, labels, file archive — no engine."""

from __future__ import annotations

import io
import tarfile

from deployer.images import database_image, image_ref
from deployer.runtime import spec as S
from slipway.desired import (
    ClusterTarget,
    DatabaseSpec,
    DesiredState,
    ImageSource,
    Port,
    RegistryRef,
    SecretFile,
    ServiceSpec,
)


def service(**kw) -> ServiceSpec:  # type: ignore[no-untyped-def]
    ports = [
        Port(id="a", name="web", internal_port=80, publicly_accessible=True, is_default=True, protocol="HTTP"),
        Port(id="b", name="admin", internal_port=9000, publicly_accessible=True, is_default=False, protocol="HTTP"),
        Port(id="c", name="db", internal_port=5432, publicly_accessible=False, is_default=False, protocol="TCP"),
    ]
    base = dict(
        id="11111111-2222",
        kind="CONTAINER",
        name="My API",
        internal_host="my-api",
        host_slug="api-x",
        ports=ports,
        env={"A": "1"},
        custom_domains=["Shop.Example.com"],
    )
    return ServiceSpec(**{**base, **kw})


STATE = DesiredState(
    organization_id="o",
    project_id="p",
    environment_id="e",
    environment_name="n",
    environment_mode="DEVELOPMENT",
    cluster=ClusterTarget(id="c", engine="podman", base_domain="slipway.localhost"),
    stages=[],
    services=[],
)


def test_routes_hash_and_names() -> None:
    svc = service()
    routes = S.public_routes(STATE, svc)
    assert [(r.host, r.port) for r in routes] == [
        ("api-x.slipway.localhost", 80),
        ("p9000-api-x.slipway.localhost", 9000),
        ("shop.example.com", 80),
    ]
    assert S.decode_routes(S.encode_routes(routes)) == routes
    digest = S.spec_hash(svc, "img:1", "sha256:x", routes)
    assert digest == S.spec_hash(service(), "img:1", "sha256:x", routes)
    assert digest != S.spec_hash(service(env={"A": "2"}), "img:1", "sha256:x", routes)
    assert digest != S.spec_hash(service(cpu=1000), "img:1", "sha256:x", routes)
    assert digest != S.spec_hash(svc, "img:2", "sha256:x", routes)
    assert S.aliases(svc) == ["my-api"]  # the slug of "My API" is the internal host already
    assert S.aliases(service(name="Worker Bee")) == ["my-api", "worker-bee"]
    assert S.container_name("11111111-2222", "dep-42", 1).startswith("slipway-11111111-dep42")
    probe = S.readiness_probe(svc)
    assert probe is not None and (probe.kind, probe.port) == ("tcp", 80)
    assert S.readiness_probe(service(ports=[])) is None


def test_create_config_and_files() -> None:
    svc = service(
        cpu=250,
        memory=64,
        arguments=["run"],
        entrypoint="/bin/app --x",
        files=[
            SecretFile(key="K", path="/etc/app/key", content="s", is_secret=True),
            SecretFile(key="C", path="/etc/app/c.conf", content="c"),
        ],
    )
    labels = S.labels(STATE, svc, "dep", "h", "img", [], 0, {"x": "y"})
    config = S.create_config(svc, "img", "net", labels, run_to_completion=False)
    assert config["HostConfig"]["NanoCpus"] == 250_000_000 and config["HostConfig"]["Memory"] == 64 << 20
    assert config["Entrypoint"] == ["/bin/app", "--x"] and config["Cmd"] == ["run"] and "A=1" in config["Env"]
    assert config["NetworkingConfig"]["EndpointsConfig"]["net"]["Aliases"] == ["my-api"]
    assert labels["x"] == "y" and labels["slipway.service-id"] == svc.id
    archive = S.files_archive(svc)
    assert archive is not None
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        modes = {m.name: m.mode for m in tar.getmembers()}
    assert modes == {"etc": 0o755, "etc/app": 0o755, "etc/app/key": 0o400, "etc/app/c.conf": 0o444}
    # no record padding after the two end-of-archive blocks: podman's copier exits there, and padding still being
    # written then fails the upload with a broken pipe
    end = tarfile.BLOCKSIZE * 2
    assert len(archive) % tarfile.BLOCKSIZE == 0 and archive[-end:] == bytes(end)
    assert archive[-end - tarfile.BLOCKSIZE : -end] != bytes(tarfile.BLOCKSIZE)  # the last member's data block


def test_one_image_reference_rule_for_runner_endpoints_and_engine() -> None:
    def spec(url: str, name: str) -> ServiceSpec:
        registry = RegistryRef(id="r", url=url, kind="GENERIC_CR")
        return ServiceSpec(id="s", kind="CONTAINER", name="c", internal_host="c", host_slug="c",
                           image=ImageSource(registry=registry, image_name=name, tag="1.2"))  # fmt: skip

    assert image_ref(spec("https://registry.example.com/", "team/app")) == "registry.example.com/team/app:1.2"
    assert image_ref(spec("127.0.0.1:5000", "app")) == "127.0.0.1:5000/app:1.2"
    assert image_ref(spec("127.0.0.1:5000", "127.0.0.1:5000/app")) == "127.0.0.1:5000/app:1.2"  # not repeated
    assert image_ref(spec("", "library/redis")) == "library/redis:1.2"
    db = ServiceSpec(id="d", kind="DATABASE", name="d", internal_host="d", host_slug="d",
                     database=DatabaseSpec(type="REDIS", version="7", mode="CONTAINER", login="u", password="p",
                                           port=6379, database_name="0"))  # fmt: skip
    assert database_image(db) == "redis:7" and image_ref(db) is None
