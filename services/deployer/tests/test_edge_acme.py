"""ACME for real, on loopback: a second Caddy acts as the ACME CA (its `acme_server`), run in its own mount
namespace whose /etc/hosts points the public test domain at 127.0.0.1, and the edge obtains its certificate
through the HTTP-01 challenge, only for public domains; private hosts keep the edge's internal CA."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from deployer.edge import AcmeIssuer, CaddyEdge
from deployer.edge.caddy import ACME_POLICY_ID
from slipway_stack.caddy import Caddy
from slipway_stack.procs import free_port

from .test_edge_caddy import upstream_app

ZONE = "apps.slipway-acme.dev"  # public by Slipway's rules; only the CA's private /etc/hosts knows it
PUBLIC = f"web-dev.{ZONE}"


class AcmeCa(Caddy):
    """Caddy as an ACME CA on https://127.0.0.1:<https_port>/acme/local/directory. It validates HTTP-01 challenges
    by resolving the name like any CA; in its own mount namespace its /etc/hosts names PUBLIC 127.0.0.1 (the
    host's resolver and files are untouched)."""

    def __init__(self, state_dir: Path) -> None:
        super().__init__(
            state_dir, free_port(), free_port(), free_port(), state_dir / "acme-ca.log", state_dir / "acme-ca.pid"
        )
        self.hosts = state_dir / "hosts"

    def command(self) -> list[str]:
        self.hosts.write_text(f"127.0.0.1 localhost {PUBLIC}\n")
        mount = f'mount --bind "{self.hosts}" /etc/hosts && exec "$0" "$@"'
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c", mount, *super().command()]

    @property
    def directory(self) -> str:
        return f"https://127.0.0.1:{self.https_port}/acme/local/directory"

    @property
    def root(self) -> Path:
        return self.state_dir / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"

    def initial_config(self) -> dict[str, Any]:
        acme = {"handler": "acme_server", "ca": "local", "challenges": ["http-01"]}
        return {
            "admin": {"listen": f"127.0.0.1:{self.admin_port}"},
            "apps": {
                "http": {
                    "http_port": self.http_port,
                    "https_port": self.https_port,
                    "servers": {
                        "ca": {
                            "listen": [f"127.0.0.1:{self.https_port}"],
                            "routes": [{"handle": [acme]}],
                            "tls_connection_policies": [{}],
                            "automatic_https": {"disable_redirects": True},
                        }
                    },
                },
                "tls": {
                    "certificates": {"automate": ["127.0.0.1"]},
                    "automation": {"policies": [{"subjects": ["127.0.0.1"], "issuers": [{"module": "internal"}]}]},
                },
                "pki": {"certificate_authorities": {"local": {"install_trust": False}}},
            },
        }


def _port_80_is_free() -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", 80))
        except OSError:
            return False
    return True


async def _verified_get(https_port: int, host: str, cafile: Path, timeout: float) -> httpx.Response:
    """GET https://<host>/ through the edge, trusting only `cafile`: it succeeds once the edge holds a certificate
    that CA issued (the ACME order runs in the background)."""
    context = ssl.create_default_context(cafile=str(cafile))
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    async with httpx.AsyncClient(verify=context, timeout=5, trust_env=False) as client:
        while time.monotonic() < deadline:
            request = client.build_request(
                "GET", f"https://127.0.0.1:{https_port}/", headers={"Host": host}, extensions={"sni_hostname": host}
            )
            try:
                return await client.send(request)
            except httpx.HTTPError as exc:
                last = exc
                await asyncio.sleep(0.5)
    raise AssertionError(f"no certificate from {cafile} for {host} within {timeout}s: {last!r}")


async def test_a_public_domain_gets_its_certificate_from_the_acme_ca(tmp_path: Path, serve_app) -> None:  # type: ignore[no-untyped-def]
    # HTTP-01 is answered on port 80 of the name's address (RFC 8555 §8.3): Caddy opens it for the challenge
    if not _port_80_is_free():  # e.g. a `make up` stack's edge holds it; CI's machine has it free
        pytest.skip("port 80 is held by another process: the ACME HTTP-01 challenge is answered there")
    ca = AcmeCa(tmp_path / "ca")
    edge = Caddy(tmp_path / "edge", free_port(), free_port(), free_port(), tmp_path / "edge.log", tmp_path / "edge.pid")
    ca.start()
    edge.start()
    client = None
    try:
        async with httpx.AsyncClient(verify=False, timeout=5) as probe:  # the CA is up (and has made its root)
            assert (await probe.get(ca.directory)).status_code == 200
        issuer = AcmeIssuer(email="ops@slipway-acme.dev", ca=ca.directory, ca_root=str(ca.root), challenge_port=80)
        client = CaddyEdge(edge.admin_url, edge.http_port, edge.https_port, acme_public_domains=True,
                           acme_issuer=issuer)  # fmt: skip
        async with await upstream_app(serve_app, "acme") as up:
            sid = f"edgetest-{uuid.uuid4().hex[:8]}"
            public, private = PUBLIC, f"{sid}.slipway.localhost"
            await client.set_service_routes(
                sid, [(public, up.removeprefix("http://")), (private, up.removeprefix("http://"))]
            )

            policies = await client.tls_automation_policies()
            assert policies[0]["@id"] == ACME_POLICY_ID and policies[0]["subjects"] == [public]
            assert policies[0]["issuers"][0]["ca"] == ca.directory
            assert {"module": "internal"} in policies[-1]["issuers"]  # the internal catch-all stays last

            r = await _verified_get(edge.https_port, public, ca.root, timeout=90)
            assert (r.status_code, r.text) == (200, "acme /")
            # the private host is served with the edge's own internal CA: the ACME CA's root does not verify it
            edge_root = edge.state_dir / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
            assert (await _verified_get(edge.https_port, private, edge_root, timeout=30)).status_code == 200
            with pytest.raises(AssertionError, match="CERTIFICATE_VERIFY_FAILED"):
                await _verified_get(edge.https_port, private, ca.root, timeout=1)

        await client.remove_service(sid)
        assert not [p for p in await client.tls_automation_policies() if p.get("@id") == ACME_POLICY_ID]
    finally:
        if client is not None:
            await client.aclose()
        edge.stop()
        ca.stop()
