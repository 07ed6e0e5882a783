"""Property-based API test on the shared stack: schemathesis generates requests from Qovery's OpenAPI for every
operation Slipway serves (valid and invalid input, against real resources where the path names them): no answer is
a 5xx, and every 2xx is valid against Qovery's schema. Every operation Slipway does not serve answers a clear 501.

`SLIPWAY_PROPERTY_EXAMPLES` (default 5) bounds the examples per operation and generation mode; the inputs are
derandomized, so a run is reproducible and a failure names the request that caused it.
"""

from __future__ import annotations

import importlib
import json
import os
import re
from collections import Counter
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from slipway_stack.qovery_spec import spec_path
from slipway_stack.testing import RunningStack

from .e2e_world import api_client, engine_client, engine_list, until

pytestmark = pytest.mark.stack

EXAMPLES = int(os.environ.get("SLIPWAY_PROPERTY_EXAMPLES", "5"))
SERVICES = ("iam.main", "catalog.main", "builder.main", "deployer.main", "logs.main")
# Operations that start work on an engine or a builder get no real ids: generated Git URLs, images and engine
# addresses would make the stack reach hosts beyond this machine. The deploy tests drive them for real.
ACTIONS = re.compile(
    r"/(deploy|redeploy|restart|restart-service|reboot|stop|uninstall|preview|cancelDeployment|deploymentRestriction)"
    r"(/\{[^}]+\})?$|/service/(deploy|stop|restart|reboot|uninstall)"
)


def _template(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


def served_operations() -> set[tuple[str, str]]:
    """(method, path template) of every public route the services declare."""
    served = set()
    for module in SERVICES:
        app = importlib.import_module(module).create_app()
        for path, item in app.openapi()["paths"].items():
            served |= {(method.upper(), _template(path)) for method in item}
    return served


class Probe:
    """Sends generated cases to the gateway and keeps the figures and what went wrong."""

    def __init__(self, stack: RunningStack) -> None:
        self.base_url = stack.api_url
        self.headers = {"Authorization": f"Token {stack.token}"}
        self.statuses: Counter[int] = Counter()
        self.operations: set[str] = set()
        self.failures: list[str] = []

    def send(self, case: Any) -> None:
        try:
            response = case.call(base_url=self.base_url, headers=self.headers, timeout=30)
        except Exception as exc:  # noqa: BLE001 - a dropped connection is a failure of the server, reported
            self.failures.append(f"{case.operation.label}: no answer ({exc!r})\n  {self.curl(case)}")
            return
        self.operations.add(case.operation.label)
        self.statuses[response.status_code] += 1
        if response.status_code >= 500:
            self.failures.append(
                f"{case.operation.label} → {response.status_code} {response.text[:300]}\n  {self.curl(case)}"
            )
        elif 200 <= response.status_code < 300:
            try:
                case.operation.validate_response(response, case=case)
            except Exception as exc:  # noqa: BLE001 - schemathesis' FailureGroup: the body does not match Qovery's
                self.failures.append(f"{case.operation.label} → {response.status_code} off-schema: {str(exc)[:600]}")

    def curl(self, case: Any) -> str:
        return str(case.as_curl_command(headers={"Authorization": "Token …"}))[:600]

    def run(self, operation: Any, mode: GenerationMode, path_parameters: dict[str, str] | None) -> None:
        strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters or None)

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def probe(case: Any) -> None:
            self.send(case)

        probe()


class World:
    """Real resources for the paths to name: an organization with every kind of thing Slipway keeps."""

    def __init__(self, stack: RunningStack) -> None:
        self.api = api_client(stack)

    def ok(self, response: httpx.Response, status: int = 200) -> dict[str, Any]:
        assert response.status_code == status, (str(response.request.url), response.json().get("detail"))
        return response.json() if response.content else {}  # type: ignore[no-any-return]

    def build(self) -> dict[str, str]:
        api, ok = self.api, self.ok
        org = ok(api.post("/organization", json={"name": "property", "plan": "FREE"}), 201)["id"]
        project = ok(api.post(f"/organization/{org}/project", json={"name": "p"}))["id"]
        env = ok(api.post(f"/project/{project}/environment", json={"name": "e"}), 201)["id"]
        cluster = ok(api.get(f"/organization/{org}/cluster"))["results"][0]["id"]
        registry = ok(api.get(f"/organization/{org}/containerRegistry"))["results"][0]["id"]
        git = {"url": "file:///nonexistent/repo", "branch": "main", "root_path": "/", "provider": "GITLAB"}
        app = ok(
            api.post(
                f"/environment/{env}/application",
                json={
                    "name": "a",
                    "git_repository": git,
                    "build_mode": "DOCKER",
                    "dockerfile_path": "Dockerfile",
                    "healthchecks": {},
                },
            ),
            201,
        )["id"]
        image = {"registry_id": registry, "image_name": "nothing", "tag": "1"}
        container = ok(api.post(f"/environment/{env}/container", json={"name": "c", **image, "healthchecks": {}}), 201)[
            "id"
        ]
        job = ok(
            api.post(
                f"/environment/{env}/job",
                json={"name": "j", "source": {"image": image}, "schedule": {"on_start": {}}, "healthchecks": {}},
            ),
            201,
        )["id"]
        database = ok(
            api.post(
                f"/environment/{env}/database",
                json={"name": "d", "type": "REDIS", "version": "7", "mode": "CONTAINER", "accessibility": "PRIVATE"},
            ),
            201,
        )["id"]
        variable = ok(
            api.post(
                "/variable",
                json={"key": "K", "value": "v", "is_secret": False, "variable_scope": "APPLICATION",
                      "variable_parent_id": app},
            ),
            201,
        )["id"]  # fmt: skip
        stage = ok(api.get(f"/environment/{env}/deploymentStage"))["results"][0]["id"]
        domain = ok(
            api.post(
                f"/application/{app}/customDomain",
                json={"domain": "property.example.test", "generate_certificate": False},
            ),
            201,
        )["id"]
        token = ok(api.post(f"/organization/{org}/gitToken", json={"name": "t", "type": "GITLAB", "token": "x"}), 201)
        rule = ok(api.get(f"/environment/{env}/deploymentRule"))["id"]
        return {
            "organizationId": org, "projectId": project, "environmentId": env, "clusterId": cluster,
            "containerRegistryId": registry, "applicationId": app, "containerId": container, "jobId": job,
            "databaseId": database, "variableId": variable, "environmentVariableId": variable, "secretId": variable,
            "deploymentStageId": stage, "stageId": stage, "customDomainId": domain, "gitTokenId": token["id"],
            "deploymentRuleId": rule, "serviceId": app,
        }  # fmt: skip

    def organizations(self) -> set[str]:
        return {o["id"] for o in self.ok(self.api.get("/organization"))["results"]}


def _real_ids(operation: Any, ids: dict[str, str]) -> dict[str, str] | None:
    """The world's ids for the path's parameters; none for actions and cluster edits (see ACTIONS)."""
    if ACTIONS.search(operation.path) or ("/cluster/{" in operation.path and operation.method.upper() != "GET"):
        return None
    return {name: ids[name] for name in re.findall(r"\{([^}]+)\}", operation.path) if name in ids}


def _order(operation: Any) -> tuple[int, str]:
    """Reads and edits first, deletions last, the organization's own deletion at the very end."""
    if operation.method.upper() != "DELETE":
        return (0, operation.label)
    return (2 if operation.path == "/organization/{organizationId}" else 1, operation.label)


def test_generated_requests_never_get_a_5xx_and_every_2xx_follows_qoverys_schema(stack: RunningStack) -> None:
    path = spec_path()
    if path is None:  # like every conformance test (README, Development)
        pytest.skip("Qovery reference spec not beside the project (../shared/qovery-api)")
    schema = schemathesis.openapi.from_path(path)
    operations = sorted((result.ok() for result in schema.get_all_operations()), key=_order)
    served = served_operations()
    world = World(stack)
    before = world.organizations()
    ids = world.build()
    probe = Probe(stack)
    unserved = [o for o in operations if (o.method.upper(), _template(o.path)) not in served]
    try:
        # what Slipway does not serve says so, in Qovery's error body
        for operation in unserved:
            path = re.sub(
                r"\{([^}]+)\}", lambda m: ids.get(m.group(1), "00000000-0000-4000-8000-000000000000"), operation.path
            )
            r = world.api.request(
                operation.method.upper(), path, json={} if operation.method.upper() in ("POST", "PUT") else None
            )
            probe.statuses[r.status_code] += 1
            body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
            # 501 "not available yet"; or the 404/403 of an authorization that found no such resource (Slipway
            # keeps no helm, terraform or queued-request ids) — a clear error in Qovery's body either way
            clear = r.status_code == 501 and "not available" in str(body.get("detail"))
            clear = clear or (r.status_code in (403, 404) and bool(body.get("detail")))
            if not clear or body.get("status") != r.status_code:
                probe.failures.append(f"unserved {operation.label} → {r.status_code} {r.text[:200]}")
        for operation in operations:
            if operation in unserved:
                continue
            probe.run(operation, GenerationMode.POSITIVE, _real_ids(operation, ids))
            probe.run(operation, GenerationMode.NEGATIVE, None)
    finally:
        for org in world.organizations() - before:  # what the run created goes, and everything it ran
            world.api.delete(f"/organization/{org}")
        engine = engine_client(stack)
        filters = json.dumps({"label": [f"slipway.organization-id={ids['organizationId']}"]})
        until(
            lambda: not engine_list(engine, "/containers/json", all="true", filters=filters),
            120,
            "the property run's workloads to be uninstalled",
        )
    requests = sum(probe.statuses.values())
    print(
        f"\nproperty run: {requests} requests over {len(probe.operations)} served operations "
        f"(+{len(unserved)} unserved probed once); statuses {dict(sorted(probe.statuses.items()))}; "
        f"{len(probe.failures)} failure(s)"
    )
    assert len(probe.operations) == len(operations) - len(unserved), "some served operation was never reached"
    assert not probe.failures, "\n".join(probe.failures[:40])
