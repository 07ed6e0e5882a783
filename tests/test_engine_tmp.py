"""The stack's Podman keeps its temporary files (image copies, push digests it never removes) in the stack's state,
not in the host's /var/tmp, and they go when the engine starts again or stops."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from slipway_stack.engine import ContainerEngine


def test_the_engines_temporary_files_live_and_go_with_it(tmp_path: Path) -> None:
    if shutil.which("podman") is None:  # an installation on the user's Docker (DOCKER_HOST) starts no engine
        pytest.skip("podman is not installed: the stack starts no engine of its own here")
    eng = ContainerEngine(tmp_path, tmp_path / "podman.log", tmp_path / "podman.pid")
    eng.tmp_dir.mkdir()
    (eng.tmp_dir / "digest.txt123").write_text("left by an earlier engine")
    eng.start()
    try:
        pid = eng.pid()
        assert pid is not None
        environ = dict(
            item.split("=", 1) for item in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in item
        )
        assert environ["TMPDIR"] == str(eng.tmp_dir)
        assert eng.tmp_dir.is_dir() and not list(eng.tmp_dir.iterdir())
    finally:
        eng.stop()
    assert not eng.tmp_dir.exists()
