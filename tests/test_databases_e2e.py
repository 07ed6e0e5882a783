"""Container databases on the real stack, from images built here from Debian's packages (no public registry is
reachable): an application built from Git uses a PostgreSQL and a Redis through Qovery's built-in variables, and a
seeding lifecycle job's outputs; its rows and keys survive a redeploy that replaces every database container and a
restart; the databases (MySQL mode included, served by MariaDB) answer their protocol; a MongoDB, whose image cannot
be pulled here, fails with an error naming the settings; deleting a database removes its volume."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from typing import Any

import pytest

from slipway_stack.testing import RunningStack
from tests.e2e_world import Repo, World, application_body, until

pytestmark = pytest.mark.stack

# each start of the application adds a row and increments a key, then serves what both hold
RUN = r"""set -eu
pg=$(env | sed -n 's/^QOVERY_POSTGRESQL_Z[A-Z0-9]*_DATABASE_URL_INTERNAL=//p' | head -1)
rd=$(env | sed -n 's/^QOVERY_REDIS_Z[A-Z0-9]*_DATABASE_URL_INTERNAL=//p' | head -1)
psql "$pg" -q -v ON_ERROR_STOP=1 -c 'CREATE TABLE IF NOT EXISTS boots (at timestamptz DEFAULT now())' \
  -c 'INSERT INTO boots DEFAULT VALUES'
redis-cli -u "$rd" --no-auth-warning INCR boots > /dev/null
products=$(env | sed -n 's/^QOVERY_OUTPUT_JOB_Z[A-Z0-9]*_PRODUCTS=//p' | head -1)
mkdir -p /www
echo "rows=$(psql "$pg" -tAc 'SELECT count(*) FROM boots') key=$(redis-cli -u "$rd" --no-auth-warning GET boots)" \
  "products=$products" > /www/index.html
exec busybox httpd -f -p 8080 -h /www
"""
# a lifecycle job run at each deploy, between the databases and the application: it seeds PostgreSQL and reports
# how many products there are (and a token, sensitive) as its outputs, which the application then reads
SEED = r"""set -eu
pg=$(env | sed -n 's/^QOVERY_POSTGRESQL_Z[A-Z0-9]*_DATABASE_URL_INTERNAL=//p' | head -1)
psql "$pg" -q -v ON_ERROR_STOP=1 -c 'CREATE TABLE IF NOT EXISTS products (name text)' \
  -c "INSERT INTO products VALUES ('kettle')"
n=$(psql "$pg" -tAc 'SELECT count(*) FROM products')
printf '{"PRODUCTS": {"value": "%s", "sensitive": false}, %s}' "$n" \
  "\"SEED_TOKEN\": {\"value\": \"tok-$n-s3cret\", \"sensitive\": true}" > /qovery-output/qovery-output.json
echo "seeded: $n product(s), token tok-$n-s3cret"
"""


class DatabaseWorld(World):
    def setup_databases(self, clients: str) -> None:
        org = self.ok(self.api.post("/organization", json={"name": "data", "plan": "FREE"}), 201)
        self.org = org["id"]
        project = self.ok(self.api.post(f"/organization/{self.org}/project", json={"name": "shop"}))
        self.env = self.ok(self.api.post(f"/project/{project['id']}/environment", json={"name": "dev"}), 201)
        self.databases = {
            kind: self.database(kind, version)
            for kind, version in (("POSTGRESQL", "15"), ("REDIS", "7"), ("MYSQL", "8.0"))
        }
        (self.repo.path / "run.sh").write_text(RUN)
        (self.repo.path / "seed.sh").write_text(SEED)
        (self.repo.path / "Dockerfile.seed").write_text(f"FROM {clients}\nCOPY seed.sh /seed.sh\n")
        self.repo.commit(f'FROM {clients}\nCOPY run.sh /run.sh\nCMD ["sh", "/run.sh"]\n', "app")
        body = application_body(self.repo.url, "shop", provider="GITLAB")
        self.app = self.ok(self.api.post(f"/environment/{self.env['id']}/application", json=body), 201)
        git = {"url": self.repo.url, "branch": "main", "root_path": "/", "provider": "GITLAB"}
        seed = {
            "name": "seed",
            "source": {"docker": {"git_repository": git, "dockerfile_path": "Dockerfile.seed"}},
            "schedule": {"on_start": {"arguments": ["sh", "/seed.sh"]}},
            "healthchecks": {},
        }
        self.seed = self.ok(self.api.post(f"/environment/{self.env['id']}/job", json=seed), 201)

    def database(self, kind: str, version: str) -> dict[str, Any]:
        body = {"name": kind.lower(), "type": kind, "version": version, "mode": "CONTAINER", "accessibility": "PRIVATE"}
        return self.ok(self.api.post(f"/environment/{self.env['id']}/database", json=body), 201)

    def environment_action(self, action: str, body: dict[str, Any] | None = None) -> str:
        before = {h["identifier"]["execution_id"] for h in self.history()}
        self.ok(self.api.post(f"/environment/{self.env['id']}/{action}", json=body or {}), 202)
        found = until(lambda: [h for h in self.history() if h["identifier"]["execution_id"] not in before], 30)
        execution = str(found[0]["identifier"]["execution_id"])
        status = self.wait_terminal(execution, 600)
        assert status in ("DEPLOYED", "RESTARTED"), (status, self.log(execution)[-3000:])
        return execution

    def running_databases(self) -> set[str]:
        found = (self.containers_of(d["id"]) for d in self.databases.values())
        return {c["Id"] for containers in found for c in containers if c["State"] == "running"}

    def log(self, execution: str) -> str:
        lines = self.api.get(f"/environment/{self.env['id']}/logs", params={"version": execution})
        return "\n".join(x["message"]["safe_message"] for x in (lines.json() if lines.status_code == 200 else []))

    def serves(self) -> str:
        return self.get().text.strip()

    def address(self, service_id: str) -> str:
        [container] = [c for c in self.containers_of(service_id) if c["State"] == "running"]
        networks = self.engine.get(f"/containers/{container['Id']}/json").json()["NetworkSettings"]["Networks"]
        return str(next(iter(networks.values()))["IPAddress"])

    def password(self, database_id: str) -> str:
        return str(self.ok(self.api.get(f"/database/{database_id}/masterCredentials"))["password"])


@pytest.fixture(scope="module")
def data(
    stack: RunningStack, database_images: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DatabaseWorld]:
    w = DatabaseWorld(stack, Repo(tmp_path_factory.mktemp("repo")))
    w.setup_databases(database_images["clients"])
    yield w
    w.api.delete(f"/environment/{w.env['id']}")


def _speak(host: str, port: int, send: bytes, wanted: int = 1) -> bytes:
    with socket.create_connection((host, port), timeout=10) as sock:
        if send:
            sock.sendall(send)
        received = b""
        while len(received) < wanted:
            chunk = sock.recv(4096)
            if not chunk:
                break
            received += chunk
        return received


def test_an_application_keeps_its_data_through_a_redeploy_and_a_restart_and_reads_the_seeding_output(
    data: DatabaseWorld,
) -> None:
    first_run = data.environment_action("deploy")
    assert data.serves() == "rows=1 key=1 products=1"
    # the seeding job's outputs are variables of the environment (the sensitive one a secret, never shown)
    listed = data.ok(data.api.get("/variable", params={"parent_id": data.app["id"], "scope": "APPLICATION"}))
    outputs = {v["key"]: v for v in listed["results"] if v["key"].startswith("QOVERY_OUTPUT_JOB_")}
    head = f"QOVERY_OUTPUT_JOB_Z{data.seed['id'].replace('-', '')[:8].upper()}"
    assert set(outputs) == {f"{head}_PRODUCTS", f"{head}_SEED_TOKEN"}, sorted(outputs)
    assert outputs[f"{head}_PRODUCTS"]["value"] == "1" and outputs[f"{head}_SEED_TOKEN"]["is_secret"]
    assert "s3cret" not in str(listed)
    log = data.log(first_run)
    assert "seeded: 1 product(s)" in log and "tok-1-s3cret" not in log, log[-2000:]

    # a database's own change replaces its container (a variable would not: databases get only their credentials);
    # its volume (rows, keys) stays; the seeding job runs again and the application restarts with its new output
    changed = [data.databases[kind]["id"] for kind in ("POSTGRESQL", "REDIS")]
    first = data.running_databases()
    for database in changed:
        data.ok(data.api.put(f"/database/{database}", json={"memory": 384}))
    data.environment_action("deploy")
    replaced = data.running_databases()
    assert len(replaced) == 3 and len(first - replaced) == 2, "the changed databases' containers were replaced"
    until(lambda: data.serves() == "rows=2 key=2 products=2", 60, "the new output to restart the application")
    # a restart of the application and the databases: still the same rows and keys
    restart = {"application_ids": [data.app["id"]], "database_ids": changed}
    data.environment_action("service/restart-service", restart)
    until(lambda: data.serves() == "rows=3 key=3 products=2", 60, "the restart to keep counting")


def test_each_database_answers_its_protocol(data: DatabaseWorld) -> None:
    pg, redis, mysql = (data.databases[k] for k in ("POSTGRESQL", "REDIS", "MYSQL"))
    # PostgreSQL answers an SSLRequest with one byte: 'S' or 'N'
    assert _speak(data.address(pg["id"]), 5432, struct.pack("!ii", 8, 80877103)) in (b"S", b"N")
    # Redis refuses a PING before AUTH and answers it after
    secret = data.password(redis["id"])
    auth = f"*2\r\n$4\r\nAUTH\r\n${len(secret)}\r\n{secret}\r\n*1\r\n$4\r\nPING\r\n".encode()
    assert _speak(data.address(redis["id"]), 6379, auth, wanted=12).startswith(b"+OK\r\n+PONG")
    assert b"NOAUTH" in _speak(data.address(redis["id"]), 6379, b"*1\r\n$4\r\nPING\r\n")
    # MySQL's handshake: protocol 10 and the server's version (MariaDB stands in for MySQL here)
    greeting = _speak(data.address(mysql["id"]), 3306, b"", wanted=5)
    assert greeting[4] == 10 and b"MariaDB" in greeting, greeting[:60]


def test_a_database_without_an_image_fails_naming_the_settings(data: DatabaseWorld) -> None:
    mongo = data.database("MONGODB", "7.0")
    queued = data.ok(data.api.post(f"/database/{mongo['id']}/deploy", json={}), 202)
    assert data.wait_terminal(queued["execution_id"], 120) == "DEPLOYMENT_ERROR"
    text = data.log(queued["execution_id"])
    assert "mongo:7.0" in text and "CATALOG_DATABASE_IMAGES" in text, text[-1500:]
    assert "slipway.database.registry_mirror" in text, text[-1500:]
    data.ok(data.api.delete(f"/database/{mongo['id']}"), 204)


def test_deleting_a_database_removes_its_volume(data: DatabaseWorld) -> None:
    redis = data.databases["REDIS"]["id"]
    prefix = f"slipway-vol-{redis.replace('-', '')}-"

    def volumes() -> list[str]:
        found = data.engine.get("/volumes").json().get("Volumes") or []
        return [v["Name"] for v in found if v["Name"].startswith(prefix)]

    assert len(volumes()) == 1, "the database's data volume"
    data.ok(data.api.delete(f"/database/{redis}"), 204)
    until(lambda: not data.containers_of(redis) and not volumes(), 120, "its containers and volume to go")
