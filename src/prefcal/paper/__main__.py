"""``python -m prefcal.paper {macros,build}``: the paper commands without the full CLI."""

from __future__ import annotations

import argparse
import sys

from prefcal.paper.build import LatexError
from prefcal.paper.cli import add_paper_commands


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run one paper command; bad input ends with one line on stderr."""
    parser = argparse.ArgumentParser(prog="python -m prefcal.paper", description=__doc__)
    add_paper_commands(parser.add_subparsers(dest="paper_command", required=True))
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError, LatexError) as exc:
        print(f"prefcal paper {args.paper_command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
