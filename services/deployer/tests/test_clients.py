"""Internal calls survive a keep-alive connection the server closed as it was reused (one retry), and only that."""

from __future__ import annotations

import httpx
import pytest

from deployer.clients import Catalog, UpstreamError


def transport(failures: list[type[Exception]]) -> tuple[httpx.MockTransport, list[str]]:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        if failures:
            raise failures.pop(0)("connection closed by the server")
        return httpx.Response(200, json={"environment_ids": ["e1"]})

    return httpx.MockTransport(handle), seen


async def test_a_connection_closed_on_reuse_is_tried_once_more() -> None:
    mock, seen = transport([httpx.ReadError])
    async with httpx.AsyncClient(transport=mock) as http:
        assert await Catalog(http, "http://catalog", "k").project_environments("p") == ["e1"]
    assert seen == ["GET", "GET"]


async def test_twice_closed_or_refused_is_reported_as_unreachable() -> None:
    mock, seen = transport([httpx.RemoteProtocolError, httpx.ReadError])
    async with httpx.AsyncClient(transport=mock) as http:
        with pytest.raises(UpstreamError, match="unreachable: ReadError") as failed:
            await Catalog(http, "http://catalog", "k").project_environments("p")
    assert failed.value.status == 0 and len(seen) == 2
    mock, seen = transport([httpx.ConnectError])
    async with httpx.AsyncClient(transport=mock) as http:
        with pytest.raises(UpstreamError, match="unreachable: ConnectError"):
            await Catalog(http, "http://catalog", "k").project_environments("p")
    assert len(seen) == 1  # nothing was sent: a refused connection is not retried here
