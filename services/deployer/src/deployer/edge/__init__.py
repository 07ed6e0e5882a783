"""The edge router the deployer drives: Caddy through its admin API (public HTTP hosts → containers)."""

from deployer.edge.caddy import CaddyEdge, EdgeError, EdgeRoute, Route, is_public_domain, tls_policies

__all__ = ["CaddyEdge", "EdgeError", "EdgeRoute", "Route", "is_public_domain", "tls_policies"]
