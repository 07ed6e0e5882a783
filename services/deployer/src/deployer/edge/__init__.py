"""The edge router the deployer drives: Caddy through its admin API (public HTTP hosts → containers)."""

from deployer.edge.caddy import AcmeIssuer, CaddyEdge, EdgeError, EdgeRoute, Route, is_public_domain, tls_policies

__all__ = ["AcmeIssuer", "CaddyEdge", "EdgeError", "EdgeRoute", "Route", "is_public_domain", "tls_policies"]
