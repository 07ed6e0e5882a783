"""Variable resolution and built-ins, case by case, as pure functions (no database)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from catalog import hosts
from catalog.models import Cluster, Environment, Service
from catalog.variable import builtins
from catalog.variable.items import Item
from catalog.variable.resolve import interpolate, resolve

PROJECT, ENV, SVC = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
T0 = datetime(2026, 1, 1, tzinfo=UTC)
POSITION = {
    "BUILT_IN": (ENV, None),
    "PROJECT": (None, None),
    "ENVIRONMENT": (ENV, None),
    "APPLICATION": (ENV, SVC),
}


def var(key: str, value: str | None, scope: str = "PROJECT", **extra: Any) -> Item:
    environment_id, service_id = POSITION[scope]
    defaults: dict[str, Any] = {
        "variable_type": "BUILT_IN" if scope == "BUILT_IN" else "VALUE",
        "parent_id": service_id or environment_id or PROJECT,
    }
    return Item(
        id=uuid.uuid4(), key=key, scope=scope, project_id=PROJECT, environment_id=environment_id,
        service_id=service_id, created_at=T0, value=value, **{**defaults, **extra},
    )  # fmt: skip


def secret(key: str, plaintext: str, scope: str = "PROJECT", **extra: Any) -> Item:
    return var(key, None, scope, is_secret=True, secret=plaintext, **extra)


def alias(key: str, target: Item, scope: str) -> Item:
    return var(key, None, scope, variable_type="ALIAS", target_id=target.id, target_key=target.key,
               is_secret=target.is_secret)  # fmt: skip


def override(target: Item, value: str, scope: str, **extra: Any) -> Item:
    if target.is_secret:
        return secret(target.key, value, scope, variable_type="OVERRIDE", target_id=target.id, **extra)
    return var(target.key, value, scope, variable_type="OVERRIDE", target_id=target.id, **extra)


def test_every_scope_reaches_the_service() -> None:
    items = [
        var("A", "p"),
        var("B", "e", "ENVIRONMENT"),
        var("C", "s", "APPLICATION"),
        var("QOVERY_X", "b", "BUILT_IN"),
    ]
    assert resolve(items).env == {"A": "p", "B": "e", "C": "s", "QOVERY_X": "b"}


def test_the_lowest_scope_wins_whatever_the_order() -> None:
    items = [var("K", "service", "APPLICATION"), var("K", "project"), var("K", "environment", "ENVIRONMENT")]
    assert resolve(items).env == {"K": "service"}
    assert resolve([var("K", "project"), var("K", "environment", "ENVIRONMENT")]).env == {"K": "environment"}


def test_an_alias_of_a_project_variable_at_environment_scope() -> None:
    url = var("DB_URL", "postgres://x")
    assert resolve([url, alias("DATABASE_URL", url, "ENVIRONMENT")]).env == {
        "DB_URL": "postgres://x",
        "DATABASE_URL": "postgres://x",
    }


def test_an_override_at_service_scope_also_changes_what_aliases_read() -> None:
    level = var("LOG_LEVEL", "info")
    items = [level, alias("LEVEL", level, "ENVIRONMENT"), override(level, "debug", "APPLICATION")]
    assert resolve(items).env == {"LOG_LEVEL": "debug", "LEVEL": "debug"}
    # without the override (another service), the project value
    assert resolve(items[:2]).env == {"LOG_LEVEL": "info", "LEVEL": "info"}


def test_an_alias_of_a_built_in_and_of_a_secret_is_secret() -> None:
    host = var("QOVERY_APPLICATION_Z1_HOST_INTERNAL", "app-z1", "BUILT_IN")
    password = secret("QOVERY_DATABASE_Z2_PASSWORD", "s3cr3t", "BUILT_IN", variable_type="BUILT_IN")
    out = resolve([host, password, alias("API_HOST", host, "APPLICATION"), alias("PG_PASS", password, "ENVIRONMENT")])
    assert out.env["API_HOST"] == "app-z1" and out.env["PG_PASS"] == "s3cr3t"
    assert out.secret_keys == {"QOVERY_DATABASE_Z2_PASSWORD", "PG_PASS"}


def test_an_alias_is_shadowed_by_a_lower_variable_of_its_key() -> None:
    target = var("A", "1")
    assert resolve([target, alias("B", target, "ENVIRONMENT"), var("B", "mine", "APPLICATION")]).env["B"] == "mine"


def test_a_dangling_alias_yields_nothing() -> None:
    gone = var("GONE", "x")
    assert resolve([alias("B", gone, "ENVIRONMENT")]).env == {}


def test_secrets_are_decrypted_and_flagged() -> None:
    token = secret("TOKEN", "t0k3n")
    out = resolve([token, override(token, "other", "ENVIRONMENT")])
    assert out.env == {"TOKEN": "other"} and out.secret_keys == {"TOKEN"}


def test_files_get_their_path_in_env_and_interpolated_content() -> None:
    config = var(
        "CONFIG", "url={{DB_URL}} user={{ USER }} keep={{UNKNOWN}}", "ENVIRONMENT", variable_type="FILE",
        mount_path="/etc/app.conf", interpolate=True,
    )  # fmt: skip
    raw = var("RAW", "{{DB_URL}}", variable_type="FILE", mount_path="/etc/raw")
    key = secret("TLS_KEY", "-----KEY-----", "APPLICATION", variable_type="FILE", mount_path="/etc/tls.key")
    out = resolve([var("DB_URL", "pg://h"), var("USER", "bob"), config, raw, key])
    assert out.env["CONFIG"] == "/etc/app.conf" and out.env["TLS_KEY"] == "/etc/tls.key"
    assert sorted(out.files) == [
        ("CONFIG", "/etc/app.conf", "url=pg://h user=bob keep={{UNKNOWN}}", False),
        ("RAW", "/etc/raw", "{{DB_URL}}", False),
        ("TLS_KEY", "/etc/tls.key", "-----KEY-----", True),
    ]
    assert out.secret_keys == {"TLS_KEY"}


def test_a_file_override_replaces_the_content_at_the_same_path() -> None:
    config = var("CONFIG", "a", variable_type="FILE", mount_path="/c")
    out = resolve(
        [config, override(config, "b={{X}}", "APPLICATION", mount_path="/c", interpolate=True), var("X", "1")]
    )
    assert out.files == [("CONFIG", "/c", "b=1", False)]


def test_interpolation_is_one_pass() -> None:
    assert interpolate("{{A}}{{B}}", {"A": "{{B}}", "B": "x"}) == "{{B}}x"


# -- built-ins -------------------------------------------------------------------------------------------
def _env() -> tuple[Environment, Cluster]:
    cluster = Cluster(id=uuid.uuid4(), base_domain="apps.example.com")
    env = Environment(id=ENV, project_id=PROJECT, cluster_id=cluster.id, created_at=T0, name="dev", mode="DEVELOPMENT")
    return env, cluster


def _service(kind: str, config: dict[str, Any], ident: str = "037c9e87-0000-4000-8000-000000000001") -> Service:
    return Service(id=uuid.UUID(ident), kind=kind, name=kind.lower(), environment_id=ENV, created_at=T0, config=config)


APP_CONFIG = {
    "git_repository": {"url": "https://github.com/acme/api.git", "branch": "main", "root_path": "/"},
    "git_commit_id": "a" * 40,
    "host_slug": "api-dev",
    "ports": [
        {"internal_port": 9000, "publicly_accessible": False, "protocol": "TCP", "is_default": False},
        {"internal_port": 8080, "publicly_accessible": True, "protocol": "HTTP", "is_default": True},
    ],
}


def test_application_built_ins_follow_qovery_naming() -> None:
    env, cluster = _env()
    app = _service("APPLICATION", APP_CONFIG)
    items = builtins.for_environment(env, cluster, [app], builtins.no_password)
    values = {i.key: i.value for i in items}
    assert values == {
        "QOVERY_PROJECT_ID": str(PROJECT),
        "QOVERY_ENVIRONMENT_ID": str(ENV),
        "QOVERY_CLUSTER_ID": str(cluster.id),
        "QOVERY_APPLICATION_Z037C9E87_HOST_INTERNAL": hosts.internal_host("APPLICATION", app.id),
        "QOVERY_APPLICATION_Z037C9E87_HOST_EXTERNAL": "api-dev.apps.example.com",
        "QOVERY_APPLICATION_Z037C9E87_GIT_COMMIT_ID": "a" * 40,
        "QOVERY_APPLICATION_Z037C9E87_GIT_BRANCH": "main",
    }
    assert all(i.scope == "BUILT_IN" and i.variable_type == "BUILT_IN" and not i.is_secret for i in items)
    assert all(i.service_id is None for i in items)  # the whole environment sees them
    again = builtins.for_environment(env, cluster, [app], builtins.no_password)
    assert [i.id for i in again] == [i.id for i in items]  # stable ids
    candidates = builtins.candidate_ids(ENV, [(app.id, "APPLICATION", None)])
    assert all(i.id in candidates for i in items)
    [own] = builtins.own(env, app)
    assert (own.key, own.value, own.service_id) == ("QOVERY_APPLICATION_ID", str(app.id), app.id)
    assert own.id in candidates


def test_no_external_host_without_a_public_port_and_empty_commit_before_any_deploy() -> None:
    env, cluster = _env()
    config = {**APP_CONFIG, "git_commit_id": None, "ports": [{"internal_port": 80, "publicly_accessible": False}]}
    keys = {
        i.key: i.value
        for i in builtins.for_service(env, _service("APPLICATION", config), cluster, builtins.no_password)
    }
    assert "QOVERY_APPLICATION_Z037C9E87_HOST_EXTERNAL" not in keys
    assert keys["QOVERY_APPLICATION_Z037C9E87_GIT_COMMIT_ID"] == ""
    container = _service(
        "CONTAINER", {"host_slug": "web-dev", "ports": [{"internal_port": 80, "publicly_accessible": True}]}
    )
    found = {i.key: i.value for i in builtins.for_service(env, container, cluster, builtins.no_password)}
    assert found == {
        "QOVERY_CONTAINER_Z037C9E87_HOST_INTERNAL": hosts.internal_host("CONTAINER", container.id),
        "QOVERY_CONTAINER_Z037C9E87_HOST_EXTERNAL": "web-dev.apps.example.com",  # the first public port by default
    }


def test_database_built_ins_hide_secrets_unless_resolving() -> None:
    env, cluster = _env()
    db = _service(
        "DATABASE",
        {"type": "POSTGRESQL", "version": "16", "port": 5432, "login": "super user", "password_encrypted": "x",
         "database_name": "postgres"},
        "aabbccdd-0000-4000-8000-000000000002",
    )  # fmt: skip
    listed = {i.key: i for i in builtins.for_service(env, db, cluster, builtins.no_password)}
    head = "QOVERY_POSTGRESQL_ZAABBCCDD"  # a database's built-ins are named after its type, as Qovery's
    host = hosts.internal_host("DATABASE", db.id)
    assert {k: i.value for k, i in listed.items()} == {
        f"{head}_HOST": host,
        f"{head}_HOST_INTERNAL": host,
        f"{head}_PORT": "5432",
        f"{head}_LOGIN": "super user",
        f"{head}_PASSWORD": None,
        f"{head}_DATABASE_NAME": "postgres",
        f"{head}_DATABASE_URL": None,
        f"{head}_DATABASE_URL_INTERNAL": None,
    }
    assert {k for k, i in listed.items() if i.is_secret} == {
        f"{head}_PASSWORD",
        f"{head}_DATABASE_URL",
        f"{head}_DATABASE_URL_INTERNAL",
    }
    resolved = resolve(builtins.for_service(env, db, cluster, lambda s: "p@ss/word"))
    assert resolved.env[f"{head}_PASSWORD"] == "p@ss/word"
    assert resolved.env[f"{head}_DATABASE_URL"] == f"postgresql://super%20user:p%40ss%2Fword@{host}:5432/postgres"
    assert resolved.env[f"{head}_DATABASE_URL_INTERNAL"] == resolved.env[f"{head}_DATABASE_URL"]


def test_database_url_schemes() -> None:
    env, cluster = _env()
    for kind, scheme in (("MYSQL", "mysql://"), ("MONGODB", "mongodb://"), ("REDIS", "redis://")):
        config = {"type": kind, "port": 1, "login": "u", "database_name": "d", "password_encrypted": "x"}
        out = resolve(builtins.for_service(env, _service("DATABASE", config), cluster, lambda s: "p"))
        assert out.env[f"QOVERY_{kind}_Z037C9E87_DATABASE_URL"].startswith(f"{scheme}u:p@"), kind
