"""The ``prefcal`` entry point: every sub-command registered, only the one run imported."""

from __future__ import annotations

import subprocess
import sys

import pytest

from prefcal.cli import SUBCOMMANDS, build_parser, main


def test_every_subcommand_is_registered_under_its_name() -> None:
    parser = build_parser()
    choices = parser._subparsers._group_actions[0].choices  # argparse keeps them here
    assert set(choices) == set(SUBCOMMANDS)
    for name in SUBCOMMANDS:
        assert set(build_parser(name)._subparsers._group_actions[0].choices) == {name}


def test_running_a_command_imports_only_its_module() -> None:
    """A shard job (`prefcal home ...`) must not pay for scikit-learn via prefcal.clustering."""
    code = (
        "import sys; from prefcal.cli import build_parser; build_parser('home'); "
        "print(sorted(m for m in ('prefcal.clustering', 'prefcal.rq', 'prefcal.collect') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_command_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
