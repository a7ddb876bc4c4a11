"""Benchmark: the whole workflow at growing numbers of simulated users (issue 7).

For each size N (``--sizes``, default 1,000, 10,000 and 100,000 users) the script copies the
project into a fresh folder under ``--work``, writes an overlay config (``simulation.n_users: N``,
``shards: ceil(N / --users-per-shard)``) and runs

    snakemake --profile profiles/default --configfile config/scale.yaml OVERLAY --cores C

with ``config/scale.yaml`` (90 days of history, zip exports, fixed-size population analyses). From
Snakemake's own benchmark files (``results/benchmarks/**.tsv``: wall seconds ``s`` and peak
resident memory ``max_rss`` of every job) it prints per stage (rule): jobs, the sum of the jobs'
wall seconds (core-seconds of work), the largest job's wall seconds and the largest peak memory;
then the run's wall time and the number of streams.

Bars (issue 7), checked on the sizes run:

* 100,000 users x 90 days end to end in under 60 minutes on 2 cores, peak memory under 8 GB
  (the largest single job's peak; with ``--cores 2`` two jobs may run at once, so the machine's
  peak can be up to twice that);
* growth exponent of time vs users (least-squares slope of log wall time on log users over the
  sizes run) at most 1.1;
* peak memory flat: the largest job's peak at the largest size over that at the smallest size
  whose shards are full (at least ``--users-per-shard`` users; a smaller study has one smaller
  shard) - the memory ratio - at most 1.5, i.e. it depends on the shard size, not the study size.

    nice -n 5 .venv/bin/python bench/scale.py --sizes 1000,10000 --work /tmp/scale
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
EXCLUDE = {".venv", "results", ".snakemake", ".git", ".pytest_cache", ".ruff_cache"}


def copy_project(dest: Path) -> None:
    """The tracked project (no results, venv or Snakemake state) into ``dest``."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(
        REPO, dest, ignore=lambda d, names: [n for n in names if n in EXCLUDE and d == str(REPO)]
    )


def reuse_size(n_users: int, args: argparse.Namespace) -> dict | None:
    """The record of an earlier finished run of ``n_users`` users under ``--work`` (``--reuse``)."""
    work = Path(args.work) / f"users_{n_users}"
    summary, jobs = work / "scale_summary.json", work / "scale_jobs.csv"
    if not (args.reuse and summary.is_file() and jobs.is_file()):
        return None
    run = json.loads(summary.read_text())
    run["jobs"] = pd.read_csv(jobs)
    print(f"[{n_users:,} users] reused the run of {run['finished']} ({summary})", flush=True)
    return run


def run_size(n_users: int, args: argparse.Namespace) -> dict:
    """Run the workflow for ``n_users`` users; return timings and the per-job benchmark table.

    The record is also written to ``scale_summary.json`` and ``scale_jobs.csv`` in the run's
    folder (with the machine's load average before and after, since other work on the machine
    inflates the times)."""
    reused = reuse_size(n_users, args)
    if reused is not None:
        return reused
    work = Path(args.work) / f"users_{n_users}"
    copy_project(work)
    shards = max(1, math.ceil(n_users / args.users_per_shard))
    overlay = work / "config" / "scale_size.yaml"
    overlay.write_text(f"shards: {shards}\nsimulation:\n  n_users: {n_users}\n")
    # the copy's own package (the venv's editable install points at the checkout, which may be
    # edited while the run goes on)
    env = dict(
        os.environ,
        PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        PYTHONPATH=str(work / "src"),
    )
    cmd = [
        "snakemake",
        "--profile",
        "profiles/default",
        "--configfile",
        "config/scale.yaml",
        str(overlay.relative_to(work)),
        "--cores",
        str(args.cores),
    ]
    print(f"[{n_users:,} users, {shards} shards] {' '.join(cmd)}", flush=True)
    load_before = os.getloadavg()[1]
    t0 = time.perf_counter()
    with open(work / "scale_run.log", "w") as log:
        proc = subprocess.run(cmd, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"snakemake failed for {n_users} users; see {work / 'scale_run.log'}")
    jobs = []
    for tsv in sorted((work / "results" / "benchmarks").rglob("*.tsv")):
        row = pd.read_csv(tsv, sep="\t").iloc[-1]
        rel = tsv.relative_to(work / "results" / "benchmarks")
        stage = rel.parts[0] if len(rel.parts) > 1 else rel.stem
        jobs.append({"stage": stage, "s": float(row["s"]), "max_rss_mb": float(row["max_rss"])})
    streams = sum(
        pq.ParquetFile(p).metadata.num_rows
        for p in (work / "results" / "data").glob("shard_*/streams.parquet")
    )
    raw_bytes = sum(p.stat().st_size for p in (work / "results" / "raw").rglob("*") if p.is_file())
    if not args.keep:
        shutil.rmtree(work / "results" / "raw", ignore_errors=True)
    run = {
        "users": n_users,
        "shards": shards,
        "wall": wall,
        "streams": streams,
        "raw_gb": raw_bytes / 1e9,
        "load_before": load_before,
        "load_after": os.getloadavg()[1],
        "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    (work / "scale_summary.json").write_text(json.dumps(run, indent=1))
    pd.DataFrame(jobs).to_csv(work / "scale_jobs.csv", index=False)
    run["jobs"] = pd.DataFrame(jobs)
    return run


def stage_table(run: dict) -> pd.DataFrame:
    """Per stage: jobs, summed wall seconds, largest job's seconds and peak memory (MB)."""
    g = run["jobs"].groupby("stage")
    out = pd.DataFrame(
        {
            "jobs": g.size(),
            "sum_s": g["s"].sum().round(1),
            "max_job_s": g["s"].max().round(1),
            "peak_mb": g["max_rss_mb"].max().round(0),
        }
    )
    return out.sort_values("sum_s", ascending=False)


def growth_exponent(users: list[int], seconds: list[float]) -> float:
    """Least-squares slope b of ``log t = a + b log N``."""
    return float(np.polyfit(np.log(users), np.log(seconds), 1)[0])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000,100000", help="comma-separated user counts")
    ap.add_argument("--users-per-shard", type=int, default=2500)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--work", default="/tmp/prefcal_scale", help="where the runs happen")
    ap.add_argument("--keep", action="store_true", help="keep the raw simulated exports")
    ap.add_argument(
        "--reuse",
        action="store_true",
        help="use the recorded result of a size already run under --work instead of rerunning it",
    )
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    runs = []
    for n in sizes:
        run = run_size(n, args)
        runs.append(run)
        print(
            f"\n{n:,} users, {run['shards']} shards: wall {run['wall']:.0f} s, "
            f"{run['streams']:,} streams, raw exports {run['raw_gb']:.2f} GB (zip); "
            f"5-min load average {run['load_before']:.1f} before, {run['load_after']:.1f} after"
        )
        print(stage_table(run).to_string())
    runs.sort(key=lambda r: r["users"])  # any run order; bars compare smallest and largest
    print("\nusers      wall_s   streams       peak_MB  stage_at_peak")
    for r in runs:
        j = r["jobs"].loc[r["jobs"]["max_rss_mb"].idxmax()]
        print(
            f"{r['users']:<10,} {r['wall']:<8.0f} {r['streams']:<13,} "
            f"{j['max_rss_mb']:<8.0f} {j['stage']}"
        )
    ok = True
    if len(runs) >= 2:
        users = [r["users"] for r in runs]
        b = growth_exponent(users, [r["wall"] for r in runs])
        per = {
            st: growth_exponent(
                users,
                [max(r["jobs"].loc[r["jobs"]["stage"] == st, "s"].sum(), 1e-3) for r in runs],
            )
            for st in runs[-1]["jobs"]["stage"].unique()
        }
        peak = [r["jobs"]["max_rss_mb"].max() for r in runs]
        print("\ngrowth exponent of each stage's summed wall time vs users:")
        for st, e in sorted(per.items(), key=lambda kv: -kv[1]):
            print(f"  {st:<24} {e:5.2f}")
        verdict = "PASS" if b <= 1.1 else "FAIL"
        print(f"\nBAR growth exponent of wall time {b:.2f} (<= 1.1): {verdict}")
        if len(runs) > 2:  # fixed costs flatten small sizes: the slope of the two largest too
            b2 = growth_exponent(users[-2:], [r["wall"] for r in runs[-2:]])
            print(f"    (for information: between the two largest sizes {b2:.2f})")
        # memory must depend on the shard size, not the study size: compare studies whose shards
        # are full (a study smaller than one shard has smaller shards, hence less memory)
        full = [i for i, r in enumerate(runs) if r["users"] >= args.users_per_shard]
        if len(full) < 2:
            full = list(range(len(runs)))
        lo, hi = full[0], full[-1]
        mem_ratio = peak[hi] / peak[lo]
        print(
            f"BAR memory ratio {runs[hi]['users']:,} vs {runs[lo]['users']:,} users (shards of "
            f"{args.users_per_shard:,}): {peak[hi]:.0f} MB / {peak[lo]:.0f} MB = {mem_ratio:.2f} "
            f"(<= 1.5): {'PASS' if mem_ratio <= 1.5 else 'FAIL'}"
        )
        if full[0] != 0:
            print(
                f"    (for information: {runs[0]['users']:,} users, one shard of that size, "
                f"peak {peak[0]:.0f} MB; largest over it {peak[-1] / peak[0]:.2f})"
            )
        ok = b <= 1.1 and mem_ratio <= 1.5
    big = [r for r in runs if r["users"] >= 100_000]
    for r in big:
        peak_gb = r["jobs"]["max_rss_mb"].max() / 1024
        good = r["wall"] < 3600 and peak_gb < 8
        print(
            f"BAR {r['users']:,} users end to end {r['wall'] / 60:.1f} min (< 60) and peak "
            f"{peak_gb:.2f} GB (< 8): {'PASS' if good else 'FAIL'}"
        )
        ok = ok and good
    if not big:
        print("BAR 100,000 users: not run (pass --sizes ...,100000)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
