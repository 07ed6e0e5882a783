"""The Kubernetes API client's manners, against a local server that answers like an overloaded API server:
429 and 5xx are retried with backoff (Retry-After honoured), a persistent failure ends in a clear error, and the
client never sends faster than its rate limit."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from deployer.runtime.kubernetes.api import KubeApi, KubeError


class Server:
    """Answers each request with the next of `answers` (status, headers), then 200; records arrival times."""

    def __init__(self) -> None:
        self.answers: list[tuple[int, dict[str, str]]] = []
        self.arrivals: list[float] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.arrivals.append(time.monotonic())
        if self.answers:
            status, headers = self.answers.pop(0)
            body = {"kind": "Status", "status": "Failure", "message": f"answered {status}", "code": status}
            return web.json_response(body, status=status, headers=headers)
        return web.json_response({"kind": "NamespaceList", "items": [], "metadata": {"resourceVersion": "7"}})


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    s = Server()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", s.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    s.url = f"http://127.0.0.1:{port}"
    yield s
    await runner.cleanup()


def kubeconfig(url: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": url}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "x",
        }
    )


async def test_429_and_5xx_are_retried_honouring_retry_after(server: Server) -> None:
    server.answers = [(429, {"Retry-After": "1"}), (503, {}), (500, {})]
    api = KubeApi(kubeconfig(server.url))
    try:
        found = await api.request("GET", "/api/v1/namespaces")
    finally:
        await api.close()
    assert found["metadata"]["resourceVersion"] == "7"
    assert len(server.arrivals) == 4
    assert server.arrivals[1] - server.arrivals[0] >= 1.0  # the Retry-After second was waited
    assert api.requests == 4


async def test_a_persistent_failure_ends_in_an_error_naming_the_request(server: Server) -> None:
    server.answers = [(503, {})] * 10
    api = KubeApi(kubeconfig(server.url), retries=2)
    try:
        with pytest.raises(KubeError) as failed:
            await api.request("GET", "/api/v1/namespaces")
    finally:
        await api.close()
    assert failed.value.status == 503 and "GET /api/v1/namespaces" in str(failed.value)
    assert len(server.arrivals) == 3  # the first try and two retries


async def test_a_refusal_that_retrying_cannot_mend_is_not_retried(server: Server) -> None:
    server.answers = [(422, {})]
    api = KubeApi(kubeconfig(server.url))
    try:
        with pytest.raises(KubeError) as failed:
            await api.request("PATCH", "/api/v1/namespaces/x", body={})
    finally:
        await api.close()
    assert failed.value.status == 422 and len(server.arrivals) == 1


async def test_requests_never_outrun_the_rate_limit(server: Server) -> None:
    api = KubeApi(kubeconfig(server.url), qps=10, burst=2)
    try:
        for _ in range(8):
            await api.request("GET", "/api/v1/namespaces")
    finally:
        await api.close()
    # two at once (the burst), then one per 1/10 s: the eighth cannot arrive before 0.6 s after the first
    assert server.arrivals[-1] - server.arrivals[0] >= 0.55
