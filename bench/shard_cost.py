"""Cost of one shard's ``simulate users`` and ``ingest`` jobs: the committed code against this tree.

Runs the CLI commands of the workflow rules (``prefcal simulate users``, ``prefcal ingest``) on one
shard of a scale-study config (config/config.yaml + config/scale.yaml, ``--users`` users, one
shard), once with the source of git ``--base`` (default HEAD, exported with ``git archive`` into the
work folder; git state is not changed) and once with ``src/`` of this checkout, in the same run,
old and new interleaved. Prints wall and CPU seconds (CPU of the child process: user + system) of
each step and the ratio new / old, then checks that every output file is byte-identical (the
export zips, the truth Parquet files, the ingested tables and the ingest report).

    .venv/bin/python bench/shard_cost.py --users 1000 --days 90
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _config_json(users: int, days: int) -> str:
    sys.path.insert(0, str(ROOT / "src"))
    from prefcal.config import load_config

    cfg = load_config(
        ROOT / "config" / "config.yaml",
        ROOT / "config" / "scale.yaml",
        overrides={"simulation": {"n_users": users, "days": days}, "shards": 1},
    )
    return json.dumps({"seed": cfg["seed"], "simulation": cfg["simulation"]})


def _export_base(base: str, dest: Path) -> Path:
    """``git archive BASE src workflow config`` unpacked into ``dest``; returns its ``src``."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", base, "src", "workflow", "config"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "src"


def _run(cmd: list[str], src: Path, log: Path) -> tuple[float, float]:
    """Run ``cmd`` with ``PYTHONPATH=src``; return (wall s, child CPU s)."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with log.open("w") as fh:
        subprocess.run(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _differences(a: Path, b: Path) -> list[str]:
    """Relative paths whose bytes differ or that exist on one side only."""
    files_a = {p.relative_to(a) for p in a.rglob("*") if p.is_file()}
    files_b = {p.relative_to(b) for p in b.rglob("*") if p.is_file()}
    out = sorted(str(p) for p in files_a ^ files_b)
    for rel in sorted(files_a & files_b):
        if not filecmp.cmp(a / rel, b / rel, shallow=False):
            out.append(str(rel))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=1000, help="users of the shard (default 1000)")
    ap.add_argument("--days", type=int, default=90, help="simulated days (default 90)")
    ap.add_argument("--base", default="HEAD", help="git revision of the old code (default HEAD)")
    ap.add_argument("--work", default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep the work folder")
    args = ap.parse_args(argv)

    work = Path(args.work or tempfile.mkdtemp(prefix="shard_cost_"))
    work.mkdir(parents=True, exist_ok=True)
    py = sys.executable
    cfg = _config_json(args.users, args.days)
    seed = str(json.loads(cfg)["seed"])
    srcs = {"old": _export_base(args.base, work / "base"), "new": ROOT / "src"}
    catalogue = work / "catalogue"
    shutil.rmtree(catalogue, ignore_errors=True)
    _run(
        [
            py,
            "-m",
            "prefcal",
            "simulate",
            "catalogue",
            "--config-json",
            cfg,
            "--out",
            str(catalogue),
        ],  # noqa: E501
        srcs["new"],
        work / "catalogue.log",
    )
    times: dict[tuple[str, str], tuple[float, float]] = {}
    for step in ("simulate_users", "ingest"):
        for which in ("old", "new"):
            out = work / which
            if step == "simulate_users":
                shutil.rmtree(out, ignore_errors=True)
                cmd = [
                    py, "-m", "prefcal", "simulate", "users", "--config-json", cfg,
                    "--catalogue", str(catalogue), "--shard", "0", "--n-shards", "1",
                    "--out", str(out / "raw"), "--truth", str(out / "truth"),
                ]  # fmt: skip
            else:
                cmd = [
                    py, "-m", "prefcal", "ingest", "--each", str(out / "raw"),
                    "--out", str(out / "data"), "--id-seed", seed,
                ]  # fmt: skip
            times[(step, which)] = _run(cmd, srcs[which], work / f"{which}_{step}.log")

    print(f"one shard: {args.users} users, {args.days} days, zip exports; old = {args.base}")
    print(f"{'step':16s} {'old wall':>9s} {'new wall':>9s} {'old cpu':>8s} {'new cpu':>8s} "
          f"{'cpu new/old':>11s}")  # fmt: skip
    total = {"old": [0.0, 0.0], "new": [0.0, 0.0]}
    for step in ("simulate_users", "ingest"):
        (ow, oc), (nw, nc) = times[(step, "old")], times[(step, "new")]
        for which, (w, c) in (("old", (ow, oc)), ("new", (nw, nc))):
            total[which][0] += w
            total[which][1] += c
        print(f"{step:16s} {ow:9.2f} {nw:9.2f} {oc:8.2f} {nc:8.2f} {nc / oc:11.3f}")
    (ow, oc), (nw, nc) = total["old"], total["new"]
    print(f"{'both':16s} {ow:9.2f} {nw:9.2f} {oc:8.2f} {nc:8.2f} {nc / oc:11.3f}")
    diff = _differences(work / "old", work / "new")
    n_files = sum(1 for p in (work / "old").rglob("*") if p.is_file())
    if diff:
        print(f"OUTPUTS DIFFER: {len(diff)} of {n_files} files, e.g. {diff[:5]}")
    else:
        print(f"outputs byte-identical: {n_files} files (exports, truth, tables, report)")
    if not args.keep and args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if diff else 0


if __name__ == "__main__":
    raise SystemExit(main())
