"""What a notebook opened by hand needs: output paths, the repository root, the smoke data."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["ensure_standalone_data", "find_repo_root", "output_paths"]


def output_paths(out_dir: str | Path) -> dict[str, Path]:
    """Where stage 01 writes under ``out_dir`` (``results`` in the workflow): the files of the
    ``data_overview`` rule."""
    out = Path(out_dir)
    return {
        "table": out / "tables" / "data_overview.csv",
        "table_tex": out / "tables" / "data_overview.tex",
        "fig": out / "figures" / "podcast_share_by_hour.png",
        "fig_pdf": out / "figures" / "podcast_share_by_hour.pdf",
        "macros": out / "paper" / "macros" / "01_data.tex",
    }


def find_repo_root(start: str | Path | None = None) -> Path:
    """The nearest folder at or above ``start`` (default: the working directory) holding the
    workflow's ``Snakefile``; a notebook opened from ``notebooks/`` uses it to find the repo."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "Snakefile").is_file() and (folder / "config").is_dir():
            return folder
    raise FileNotFoundError(f"no Snakefile at or above {here}: open the notebook inside the repo")


def ensure_standalone_data(config: Mapping[str, Any], work_dir: str | Path) -> Path:
    """Simulate and ingest ``config``'s study under ``work_dir`` unless its tables exist.

    For a notebook opened by hand: runs the same commands as the workflow's rules
    (``prefcal simulate catalogue``, ``prefcal simulate users`` per shard, ``prefcal ingest
    --each`` per shard) into ``work_dir/{truth,raw,data}`` and returns ``work_dir/data``. When
    every shard's ``streams.parquet`` and ``ingest_report.json`` exist, nothing is run.
    """

    work = Path(work_dir)
    data = work / "data"
    n_shards = int(config["shards"])
    wanted = [
        data / f"shard_{i:03d}" / name
        for i in range(n_shards)
        for name in ("streams.parquet", "ingest_report.json")
    ]
    if all(p.is_file() for p in wanted):
        return data
    sim_cfg = json.dumps({k: config[k] for k in ("seed", "simulation")}, sort_keys=True)
    cli = [sys.executable, "-m", "prefcal.cli"]
    catalogue = work / "truth" / "catalogue"
    commands = [[*cli, "simulate", "catalogue", "--config-json", sim_cfg, "--out", str(catalogue)]]
    for i in range(n_shards):
        shard = f"{i:03d}"
        raw = work / "raw" / f"shard_{shard}"
        commands.append(
            [*cli, "simulate", "users", "--config-json", sim_cfg, "--catalogue", str(catalogue)]
            + ["--shard", shard, "--n-shards", str(n_shards), "--out", str(raw)]
            + ["--truth", str(work / "truth" / "users" / f"shard_{shard}")]
        )
        commands.append(
            [*cli, "ingest", "--each", str(raw), "--out", str(data / f"shard_{shard}")]
            + ["--id-seed", str(config["seed"])]
        )
    for command in commands:
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(
                f"command failed ({result.returncode}): {' '.join(command[2:5])} ...\n"
                + result.stderr[-2000:]
            )
    return data
