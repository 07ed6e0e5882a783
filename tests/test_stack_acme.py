"""`make up` with a public base domain: the stack turns the edge's ACME on unless the operator chose otherwise."""

from __future__ import annotations

from slipway.dns import is_public_domain
from slipway_stack.stack import acme_by_default


def test_a_public_base_domain_turns_acme_on_unless_the_operator_chose() -> None:
    assert acme_by_default({"CATALOG_BASE_DOMAIN": "apps.example.com"})
    assert not acme_by_default({"CATALOG_BASE_DOMAIN": "localhost"})
    assert not acme_by_default({"CATALOG_BASE_DOMAIN": "apps.internal"})
    assert not acme_by_default({})
    chosen = {"CATALOG_BASE_DOMAIN": "apps.example.com", "DEPLOYER_EDGE_ACME_PUBLIC_DOMAINS": "false"}
    assert not acme_by_default(chosen)
    assert is_public_domain("Shop.Example.COM.") and not is_public_domain("10.1.2.3") and not is_public_domain("a.test")
