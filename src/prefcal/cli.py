"""The ``prefcal`` command line: one sub-command per module that has a ``register(subparsers)``.

Each sub-command module defines ``register(subparsers) -> None`` that adds its parser and sets
``func`` to a callable taking the parsed arguments and returning an exit status.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from prefcal.config import ConfigError

# Modules whose register(subparsers) adds a sub-command (each imports its heavy deps lazily).
SUBCOMMAND_MODULES = [
    "prefcal.simulate.cli",
    "prefcal.ingest.cli",
    "prefcal.collect.cli",
    "prefcal.preferences.cli",
    "prefcal.home.cli",
    "prefcal.donation.cli",
]


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every registered sub-command."""
    parser = argparse.ArgumentParser(
        prog="prefcal",
        description="Spotify listening preferences and Home-page calibration: the study's tools.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; bad input ends with one line on stderr, status 2."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ConfigError, ValueError, FileNotFoundError) as exc:
        print(f"prefcal {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
