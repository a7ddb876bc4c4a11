"""What ``notebooks/04_offline_evaluation.ipynb`` needs when opened by hand (no workflow run).

:func:`ensure_home_logs`, :func:`ensure_evaluation` and :func:`ensure_sensitivity` run the same
commands as the workflow's rules (``prefcal home log`` per shard, ``prefcal home fit`` and
``prefcal home evaluate`` per shard, ``prefcal home sensitivity``) into the notebook's standalone
folder when their outputs are missing; they do nothing when the outputs exist.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prefcal.evaluation.shards import EVAL_TABLES

__all__ = ["ensure_evaluation", "ensure_home_logs", "ensure_sensitivity", "shard_dirs"]

SECTIONS = ("seed", "simulation", "ingest", "home", "evaluation")
HOME_FILES = ("log_requests", "impressions", "ab_requests", "participants")


def shard_dirs(root: str | Path, n_shards: int) -> list[Path]:
    """``root/shard_000 .. shard_{n-1}``."""
    return [Path(root) / f"shard_{i:03d}" for i in range(int(n_shards))]


def _cfg(config: Mapping[str, Any]) -> str:
    return json.dumps({k: config[k] for k in SECTIONS if k in config}, sort_keys=True)


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"command failed ({result.returncode}): {' '.join(command[2:5])} ...\n"
            + result.stderr[-2000:]
        )


def ensure_home_logs(
    config: Mapping[str, Any], data_dir: str | Path, truth_dir: str | Path, home_dir: str | Path
) -> Path:
    """Run ``prefcal home log`` for every shard whose Home tables are missing; return home_dir."""
    cli = [sys.executable, "-m", "prefcal.cli", "home", "log", "--config-json", _cfg(config)]
    for shard, data, truth in zip(
        shard_dirs(home_dir, config["shards"]),
        shard_dirs(data_dir, config["shards"]),
        shard_dirs(Path(truth_dir) / "users", config["shards"]),
        strict=True,
    ):
        if all((shard / f"{name}.parquet").is_file() for name in HOME_FILES):
            continue
        _run(
            cli
            + [
                "--catalogue",
                str(Path(truth_dir) / "catalogue"),
                "--truth-users",
                str(truth),
                "--streams",
                str(data / "streams.parquet"),
                "--out",
                str(shard),
            ]
        )
    return Path(home_dir)


def ensure_evaluation(
    config: Mapping[str, Any], home_dir: str | Path, truth_dir: str | Path, out_dir: str | Path
) -> Path:
    """Run ``prefcal home fit`` (unless ``out_dir/fitted.pkl`` exists) and ``prefcal home
    evaluate`` for every shard whose sums are missing; return ``out_dir``."""
    out, n = Path(out_dir), config["shards"]
    cli = [sys.executable, "-m", "prefcal.cli", "home"]
    users = shard_dirs(Path(truth_dir) / "users", n)
    homes = shard_dirs(home_dir, n)
    catalogue = ["--catalogue", str(Path(truth_dir) / "catalogue")]
    fitted = out / "fitted.pkl"
    if not fitted.is_file():
        _run(
            cli
            + ["fit", "--config-json", _cfg(config), *catalogue]
            + ["--truth-users", *map(str, users), "--home", *map(str, homes)]
            + ["--out", str(fitted)]
        )
    for shard, truth, home in zip(shard_dirs(out, n), users, homes, strict=True):
        if all((shard / f"{name}.parquet").is_file() for name in EVAL_TABLES):
            continue
        _run(
            cli
            + ["evaluate", "--config-json", _cfg(config), *catalogue]
            + ["--truth-users", str(truth), "--home", str(home), "--fitted", str(fitted)]
            + ["--out", str(shard)]
        )
    return out


def ensure_sensitivity(
    config: Mapping[str, Any], data_dir: str | Path, truth_dir: str | Path, out: str | Path
) -> Path:
    """Run ``prefcal home sensitivity`` unless ``out`` exists; return ``out``."""
    out = Path(out)
    if out.is_file():
        return out
    n = config["shards"]
    _run(
        [
            sys.executable,
            "-m",
            "prefcal.cli",
            "home",
            "sensitivity",
            "--config-json",
            _cfg(config),
            "--catalogue",
            str(Path(truth_dir) / "catalogue"),
            "--truth-users",
            *[str(p) for p in shard_dirs(Path(truth_dir) / "users", n)],
            "--streams",
            *[str(p / "streams.parquet") for p in shard_dirs(data_dir, n)],
            "--out",
            str(out),
        ]
    )
    return out
