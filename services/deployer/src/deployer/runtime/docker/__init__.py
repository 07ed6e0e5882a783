"""The docker-engine runtime (Docker or Podman's compatible API): `DockerEngineDriver`."""

from deployer.runtime.docker.driver import DockerEngineDriver

__all__ = ["DockerEngineDriver"]
