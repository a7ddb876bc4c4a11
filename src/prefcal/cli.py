"""The ``prefcal`` command line: one sub-command per module that has a ``register(subparsers)``.

Each sub-command module defines ``register(subparsers) -> None`` that adds its parser and sets
``func`` to a callable taking the parsed arguments and returning an exit status.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from prefcal.config import ConfigError

# Sub-command -> the module whose register(subparsers) adds it (each imports its heavy deps
# lazily). Only the module of the command being run is imported (a package such as
# prefcal.clustering imports scikit-learn on import: seconds per shard job), all of them for --help.
SUBCOMMANDS = {
    "simulate": "prefcal.simulate.cli",
    "ingest": "prefcal.ingest.cli",
    "collect": "prefcal.collect.cli",
    "clustering": "prefcal.clustering.cli",
    "preferences": "prefcal.preferences.cli",
    "home": "prefcal.home.cli",
    "rq": "prefcal.rq.cli",
    "donation": "prefcal.donation.cli",
}
SUBCOMMAND_MODULES = list(SUBCOMMANDS.values())


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser: with every registered sub-command, or only ``command``'s (a known
    sub-command name) so that running it imports nothing else."""
    parser = argparse.ArgumentParser(
        prog="prefcal",
        description="Spotify listening preferences and Home-page calibration: the study's tools.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    modules = [SUBCOMMANDS[command]] if command in SUBCOMMANDS else SUBCOMMAND_MODULES
    for name in modules:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; bad input ends with one line on stderr, status 2."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv[0] if argv else None)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ConfigError, ValueError, FileNotFoundError) as exc:
        print(f"prefcal {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
