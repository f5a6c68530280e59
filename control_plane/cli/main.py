"""`fleetdeck` entry point: joins the subcommand groups of each area.

Each module in COMMAND_MODULES exposes ``register(subparsers)`` that adds its subcommands, each
with ``set_defaults(func=handler)``; a handler returns the process exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from control_plane.errors import FleetdeckError

COMMAND_MODULES: list[str] = ["local", "rollout_cmds", "api_cmds"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fleetdeck", description="Fleetdeck control plane")
    parser.add_argument("--json", action="store_true", help="print JSON for scripts instead of tables")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"control_plane.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except FleetdeckError as exc:
        print(f"fleetdeck: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
