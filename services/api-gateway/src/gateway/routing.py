"""Resolve a public path to its owning service using the route table."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.routetable import ROUTES, WEBSOCKETS

# Slipway's own endpoints (outside Qovery's namespace). PUBLIC ones need no credentials.
EXTENSIONS: dict[str, dict[str, str]] = {
    "iam": {"/slipway/organization/{id}/auditLog": "GET"},
    "catalog": {"/slipway/organization/{id}/gitWebhook": "GET", "/slipway/organization/{id}/gitWebhook/rotate": "POST"},
}
PUBLIC: dict[str, dict[str, str]] = {
    "iam": {
        "/auth/signup": "POST",
        "/auth/login": "POST",
        "/auth/refresh": "POST",
        "/auth/logout": "POST",
        "/auth/jwks": "GET",
        "/auth/oidc": "GET",
        "/auth/oidc/{id}/login": "GET",
        "/auth/oidc/{id}/callback": "GET",
    },
    # Git providers' deliveries: signed with the organization's webhook secret, checked by catalog
    "catalog": {"/slipway/webhooks/{id}/{id}": "POST"},
}


@dataclass(frozen=True)
class Route:
    template: str
    service: str
    methods: frozenset[str]
    public: bool = False


_COMPILED: list[tuple[re.Pattern[str], Route]] = []
for _table, _public in ((ROUTES, False), (EXTENSIONS, False), (PUBLIC, True)):
    for _service, _templates in _table.items():
        for _template, _methods in _templates.items():
            _regex = "^" + re.escape(_template).replace(re.escape("{id}"), "[^/]+") + "/?$"
            _COMPILED.append((re.compile(_regex), Route(_template, _service, frozenset(_methods.split()), _public)))
# Literal segments beat `{id}` (e.g. /organization/{id}/cluster/status vs /organization/{id}/cluster/{id}).
_COMPILED.sort(key=lambda item: (item[1].template.count("{id}"), -len(item[1].template)))


def resolve(path: str) -> Route | None:
    for regex, route in _COMPILED:
        if regex.match(path):
            return route
    return None


def websocket_service(path: str) -> str | None:
    return WEBSOCKETS.get(path.rstrip("/") or "/")
