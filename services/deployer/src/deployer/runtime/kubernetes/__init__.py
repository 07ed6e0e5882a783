"""The Kubernetes runtime driver (kubernetes-asyncio is imported here only)."""

from deployer.runtime.kubernetes.driver import KubernetesDriver

__all__ = ["KubernetesDriver"]
