"""A service's links: one per public HTTP/GRPC port on its generated host, one per custom domain (on Slipway's
edge, or behind the cluster's ingress controller when its advanced settings name an ingress class)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from catalog import hosts
from catalog.cluster.service import kubernetes_settings
from catalog.domain import service as domains
from catalog.link.schemas import Link
from catalog.models import Service
from slipway.desired import Port, public_hosts


def domain_port(ports: list[Port], routed: dict[int, str]) -> Port | None:
    """The port custom domains reach: the default one, else the first public HTTP/GRPC port."""
    public = [p for p in ports if p.internal_port in routed]
    return next((p for p in public if p.is_default), public[0] if public else None)


async def links(session: AsyncSession, svc: Service, https_port: int) -> list[Link]:
    config: dict[str, Any] = svc.config
    ports = [Port.model_validate(p) for p in config.get("ports") or []]
    cluster = await domains.cluster_of(session, svc)
    routed = public_hosts(config["host_slug"], ports, cluster.base_domain)
    ingress = kubernetes_settings(cluster)
    if ingress.get("ingress_class"):  # the cluster's ingress controller serves its hosts, on the standard ports
        https_port = 443
    scheme = "http" if ingress.get("ingress_class") and not ingress.get("ingress_issuer") else "https"

    def link(host: str, port: Port, *, qovery: bool, default: bool) -> Link:
        url = hosts.public_url(host, https_port) if scheme == "https" else f"http://{host}"
        return Link(
            service_id=str(svc.id),
            service_type=svc.kind,
            url=url,
            internal_port=port.internal_port,
            external_port=https_port if scheme == "https" else 80,
            is_qovery_domain=qovery,
            is_default=default,
        )

    out = [
        link(routed[p.internal_port], p, qovery=True, default=p.is_default) for p in ports if p.internal_port in routed
    ]
    target = domain_port(ports, routed)
    if target is not None:
        out += [link(d.domain, target, qovery=False, default=True) for d in await domains.listing(session, svc.id)]
    return out
