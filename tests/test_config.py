"""The config schema: shipped configs validate, wrong keys and values are named in one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from prefcal.config import ConfigError, deep_merge, load_config


def test_default_and_smoke_configs_validate(repo_root):
    default = load_config(repo_root / "config" / "config.yaml")
    smoke = load_config(repo_root / "config" / "smoke.yaml")
    assert smoke["simulation"]["n_users"] < default["simulation"]["n_users"]
    # smoke overrides only what it names; the rest comes from config.yaml
    assert smoke["seed"] == default["seed"]
    assert smoke["simulation"]["context_strength"] == default["simulation"]["context_strength"]


def test_deep_merge_keeps_unnamed_keys():
    assert deep_merge({"a": {"b": 1, "c": 2}, "d": 3}, {"a": {"b": 5}}) == {
        "a": {"b": 5, "c": 2},
        "d": 3,
    }


def test_unknown_key_is_named(repo_root):
    with pytest.raises(ConfigError, match=r"config key simulation: .*'n_userz'"):
        load_config(overrides={"simulation": {"n_userz": 3}})


def test_bad_value_is_named_with_allowed_values():
    with pytest.raises(ConfigError, match=r"config key data.source: 'spotify' is not one of"):
        load_config(overrides={"data": {"source": "spotify"}})


def test_cli_reports_bad_config_in_one_line(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("shards: 0\n")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "prefcal.cli",
            "simulate",
            "catalogue",
            "--config",
            str(bad),
            "--out",
            str(tmp_path / "cat"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "config key shards" in lines[0]
