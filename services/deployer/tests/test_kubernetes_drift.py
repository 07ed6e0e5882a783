"""Drift correction never undoes a deploy: a record listed before a deploy finished is read again under the
service's lock, so what reconcile() puts back is what the latest apply made."""

from __future__ import annotations

import asyncio
from typing import Any

from deployer.runtime.kubernetes import drift as D
from deployer.runtime.kubernetes import manifests as M
from deployer.runtime.kubernetes.api import Kind

from .fakes import container, environment


def _workload(version: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web", "namespace": "ns"},
        "v": version,
    }


class Cluster:
    """The records in a dict; a list answers what was there when it was asked."""

    def __init__(self) -> None:
        self.secrets: dict[str, dict[str, Any]] = {}
        self.listed = asyncio.Event()
        self.proceed = asyncio.Event()

    async def list(self, kind: Kind, namespace: str | None, selector: str) -> dict[str, Any]:
        items = [dict(s) for s in self.secrets.values()]
        self.listed.set()
        await self.proceed.wait()  # a deploy may finish here, between the list and the work on each record
        return {"items": items}

    async def get(self, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
        return self.secrets.get(name)

    async def delete(self, kind: Kind, namespace: str, name: str) -> None:
        self.secrets.pop(name, None)


class Driver(D.Drift):
    def __init__(self, api: Cluster) -> None:
        self.api = api  # type: ignore[assignment]
        self.installation = "inst"
        self.cluster_id = "c1"
        self._locks: dict[str, asyncio.Lock] = {}
        self.synced: list[dict[str, Any]] = []
        self.last_changes: list[str] = []

    async def _write(self, obj: dict[str, Any]) -> bool:
        self.synced.append(obj)
        return True


async def test_a_record_written_after_the_list_is_what_gets_put_back() -> None:
    state = environment([container("web")])
    service = state.services[0]
    api = Cluster()
    driver = Driver(api)
    driver.sync = driver._write  # type: ignore[method-assign]
    old = D.record(state, service, "inst", [_workload("old")])
    api.secrets[old["metadata"]["name"]] = old

    reconciling = asyncio.create_task(driver.reconcile())
    await api.listed.wait()
    new = D.record(state, service, "inst", [_workload("new")])  # the deploy that finished meanwhile
    api.secrets[new["metadata"]["name"]] = new
    api.proceed.set()
    await reconciling

    assert [o["v"] for o in driver.synced] == ["new"]


async def test_a_record_deleted_after_the_list_puts_nothing_back() -> None:
    state = environment([container("web")])
    service = state.services[0]
    api = Cluster()
    driver = Driver(api)
    driver.sync = driver._write  # type: ignore[method-assign]
    old = D.record(state, service, "inst", [_workload("old")])
    api.secrets[old["metadata"]["name"]] = old

    reconciling = asyncio.create_task(driver.reconcile())
    await api.listed.wait()
    await api.delete(D.SECRETS, M.namespace_of(state), old["metadata"]["name"])  # stopped meanwhile
    api.proceed.set()
    assert await reconciling == []
    assert driver.synced == []
