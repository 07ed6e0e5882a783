"""`slipway-stack up|down|purge|status|logs`: what `make up`, `make down`, `make clean`, `make status` run."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from slipway_stack.kube.build import BuildError, KubeBinaries
from slipway_stack.stack import SERVICES, Stack, StackError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="slipway-stack", description=__doc__)
    parser.add_argument("--state-dir", type=Path, default=Path(os.environ.get("SLIPWAY_STATE_DIR") or ".slipway"))
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start everything (idempotent) and bootstrap the admin token")
    up.add_argument("--random-ports", action="store_true", help="pick free random ports (tests)")
    sub.add_parser("down", help="stop every process, keep the data")
    sub.add_parser("purge", help="remove this installation's containers, volumes and networks from the engine")
    sub.add_parser("kube-build", help="build the embedded Kubernetes binaries into their cache (once)")
    sub.add_parser("db-images", help="build the local database images (once) and push them to the stack's registry")
    sub.add_parser("status", help="show each component and whether it is ready")
    logs = sub.add_parser("logs", help="show component logs")
    logs.add_argument(
        "component", nargs="?", help="one of postgres, nats, migrations, " + ", ".join(s.name for s in SERVICES)
    )
    logs.add_argument("-f", "--follow", action="store_true")
    logs.add_argument("-n", "--lines", type=int, default=40)
    args = parser.parse_args(argv)

    stack = Stack(args.state_dir, random_ports=getattr(args, "random_ports", False))
    try:
        if args.command == "up":
            stack.up()
        elif args.command == "down":
            stack.down()
        elif args.command == "purge":
            stack.purge()
        elif args.command == "kube-build":
            KubeBinaries().ensure()
        elif args.command == "db-images":
            stack.database_images()
        elif args.command == "status":
            rows = stack.status()
            if not rows:
                print("Slipway is not set up here yet: run 'make up'.")
                return 1
            for name, state, where in rows:
                print(f"{name:<12} {state:<34} {where}")
        elif args.command == "logs":
            files = sorted(stack.logs.glob("*.log"))
            if args.component:
                files = [stack.logs / f"{args.component}.log"]
            files = [f for f in files if f.exists()]
            if not files:
                print(f"no logs yet in {stack.logs}")
                return 1
            cmd = ["tail", "-v", "-n", str(args.lines)] + (["-F"] if args.follow else []) + [str(f) for f in files]
            return subprocess.call(cmd)
    except (StackError, BuildError) as exc:
        print(f"\nERROR: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
