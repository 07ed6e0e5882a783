"""Register a Kubernetes cluster in the bootstrapped organization through the public API (kubeconfig encrypted)."""

from __future__ import annotations

import httpx

CLUSTER_NAME = "local-kubernetes"
ORGANIZATION_NAME = "Slipway"  # created for the admin when they have no organization yet


class RegisterError(RuntimeError):
    pass


def register_cluster(api_url: str, token: str, kubeconfig: str, name: str = CLUSTER_NAME) -> str:
    """Create (or find) cluster `name` in the admin's first organization (created when there is none, with its
    default docker-engine cluster) and upload its kubeconfig; returns the cluster's id."""
    headers = {"Authorization": f"Token {token}"}
    with httpx.Client(base_url=api_url, headers=headers, timeout=15) as api:
        orgs = _ok(api.get("/organization"), "list organizations").json()["results"]
        if not orgs:
            body = {"name": ORGANIZATION_NAME, "plan": "FREE", "description": "bootstrapped by make up"}
            orgs = [_ok(api.post("/organization", json=body), "create the organization").json()]
        org = orgs[0]["id"]
        clusters = _ok(api.get(f"/organization/{org}/cluster"), "list clusters").json()["results"]
        found = next((c for c in clusters if c["name"] == name), None)
        if found is None:
            body = {
                "name": name,
                "region": "local",
                "cloud_provider": "ON_PREMISE",
                "kubernetes": "SELF_MANAGED",
                "slipway_engine": "kubernetes",
                "description": "the stack's embedded one-node Kubernetes (make up with SLIPWAY_KUBERNETES=embedded)",
            }
            found = _ok(api.post(f"/organization/{org}/cluster", json=body), "create the cluster").json()
        _ok(
            api.put(
                f"/organization/{org}/cluster/{found['id']}/kubeconfig",
                content=kubeconfig.encode(),
                headers={"Content-Type": "application/x-yaml"},
            ),
            "upload the kubeconfig",
        )
        return str(found["id"])


def _ok(response: httpx.Response, what: str) -> httpx.Response:
    if response.status_code >= 300:
        raise RegisterError(f"could not {what}: {response.status_code} {response.text[:300]}")
    return response
