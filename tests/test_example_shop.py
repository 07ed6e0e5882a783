"""The README's full example, examples/shop/deploy.sh, against the stack: a frontend and a backend built from Git,
a PostgreSQL database and a seeding job; the page shows the seeded products, the job's output and a visit count
kept in PostgreSQL, which a second run (a redeploy of everything) keeps."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from slipway_stack.testing import RunningStack
from tests.e2e_world import until

pytestmark = pytest.mark.stack
ROOT = Path(__file__).resolve().parents[1]
PAGE = re.compile(r"Shop: (?P<products>[^<]*?) — visits: (?P<visits>\d+) — seeded by job: (?P<seeded>\d+)")


def test_the_shop_example_deploys_with_its_seed_and_keeps_its_data_through_a_redeploy(
    stack: RunningStack, database_images: dict[str, str], tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "SLIPWAY_API_URL": stack.api_url,
        "SLIPWAY_API_TOKEN": stack.token,
        "SLIPWAY_STATE_DIR": str(tmp_path),
    }

    def deploy() -> str:
        done = subprocess.run(
            ["bash", str(ROOT / "examples" / "shop" / "deploy.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done.stdout.strip().splitlines()[-1].split()[1]

    def page(host: str) -> re.Match[str] | None:
        r = httpx.get(f"http://127.0.0.1:{stack.ports['edge_http']}/", headers={"Host": host}, timeout=10)
        return PAGE.search(r.text) if r.status_code == 200 else None

    url = deploy()
    host = url.split("://", 1)[1].split(":")[0]
    first = page(host)
    assert first is not None
    assert first["products"] == "kettle, mug, tea towel, teapot" and first["seeded"] == "4", first.group(0)
    assert first["visits"] == "1"

    assert deploy() == url  # everything again, the database's volume kept
    again = until(lambda: page(host), 30, "the page after the redeploy")
    assert again["visits"] == "2" and again["seeded"] == "4", again.group(0)  # the first visit survived

    ids = json.loads((tmp_path / "shop.json").read_text())
    api = httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Token {stack.token}"}, timeout=30)
    assert api.delete(f"/environment/{ids['environment']}").status_code in (202, 204)
