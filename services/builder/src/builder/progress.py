"""Reading an engine's JSON build/push progress: printable lines, the current Dockerfile step, layer ids."""

from __future__ import annotations

import re
from typing import Any

# Podman/Buildah: "STEP 3/5: RUN make"; Docker's classic builder: "Step 3/5 : RUN make"
_STEP = re.compile(r"^(STEP \d+/\d+: .*|Step \d+/\d+ : .*)$")
# a committed layer: Podman "--> 1802b482e01" / "--> Using cache <id>", Docker " ---> 1802b482e018"
_LAYER = re.compile(r"^\s*-+> (?:Using cache )?([0-9a-f]{11,64})\s*$")
_MAX_STEP_CHARS = 500


class Progress:
    """Follows one build's progress messages; `step` is the last Dockerfile step seen (the failing one on error)."""

    def __init__(self) -> None:
        self.step: str | None = None
        self.layers: list[str] = []
        self.image_id: str | None = None

    def feed(self, item: dict[str, Any]) -> list[str]:
        """The printable lines of one progress message, noting steps, layers and the final image id."""
        lines: list[str] = []
        if isinstance(item.get("stream"), str):
            lines = [line.rstrip("\r") for line in item["stream"].splitlines() if line.strip()]
        elif isinstance(item.get("status"), str):
            status = item["status"]
            extra = item.get("progress") or ""
            ident = item.get("id")
            lines = [" ".join(str(p) for p in (ident and f"{ident}:", status, extra) if p)]
        aux = item.get("aux")
        if isinstance(aux, dict) and isinstance(aux.get("ID"), str):
            self.image_id = aux["ID"]
        for line in lines:
            if _STEP.match(line.strip()):
                self.step = line.strip()[:_MAX_STEP_CHARS]
            layer = _LAYER.match(line)
            if layer:
                self.layers.append(layer.group(1))
        return lines


def error_of(item: dict[str, Any]) -> str | None:
    """The error an in-band progress message reports (`error` / `errorDetail`), if any."""
    detail = item.get("errorDetail")
    if isinstance(detail, dict) and detail.get("message"):
        return str(detail["message"])
    if item.get("error"):
        return str(item["error"])
    return None
