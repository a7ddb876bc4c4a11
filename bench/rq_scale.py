"""Stage 05 at scale (issue 7): the old all-shards-in-one-job computation against the sharded one.

On a finished study's ``results/`` (default: the 10,000-user scale run at
``/tmp/scale/users_10000/results``, read only) this times, each in its own subprocess so that
peak memory (``ru_maxrss``) is per job:

* **old**: the stage-05 core as one job before issue 7: the snapshot table from every shard's
  Home logs and streams (:func:`prefcal.rq.snapshots.read_shard_snapshots`), H1-H6 with the full
  ``U x U`` H1 matrix and the mixed models on every user, the attribution, and the Home-log
  validation on every participant;
* **new**: ``prefcal rq snapshots`` once per shard (:func:`prefcal.rq.shards.write_shard_summary`;
  the workflow runs these in parallel, so the *job* figures are the slowest / largest shard), then
  the merge job of notebook 05: :func:`prefcal.rq.shards.read_rq_snapshots`, H1 on the factors of
  the matrix, the mixed models and the Home-log validation on seeded user subsamples
  (``rq.mixed_max_users``, ``rq.attribution.home_max_users``), the same attribution and H6.

It prints the time and peak memory of every job, the ratio old / new of the stage's total time
(sum of jobs) and of the largest job's peak memory, and whether the snapshot tables and the rows
of H1, H2 and H5 agree exactly (they must; H3, H4 p-values and the validation may change when a
subsample is in force).

    nice -n 10 .venv/bin/python bench/rq_scale.py
    nice -n 10 .venv/bin/python bench/rq_scale.py --results /tmp/scale/users_10000/results \\
        --config config/scale.yaml /tmp/scale/users_10000/config/scale_size.yaml
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# One job: run in a fresh interpreter; prints one JSON line with the job's numbers.
JOB = r"""
import json, resource, sys, time
import numpy as np, pandas as pd
from prefcal.config import load_config
from prefcal.rq import hypotheses
from prefcal.rq.settings import RQSettings

args = json.loads(sys.argv[1])
cfg = load_config(*args["config"])
shards = [f"{i:03d}" for i in range(cfg["shards"])]
res, mode = args["results"], args["mode"]
min_ms = cfg["ingest"]["min_ms_played"]
out, times, peaks = {}, {}, {}

def tick(name, t):
    times[name] = round(time.perf_counter() - t, 2)
    peaks[name] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)

t = time.perf_counter()
if mode == "shard":
    from prefcal.rq.shards import write_shard_summary
    s = args["shard"]
    write_shard_summary(f"{res}/home/shard_{s}", f"{res}/data/shard_{s}/streams.parquet",
                        f"{args['work']}/shard_{s}", min_ms)
    tick("summary", t)
else:
    from dataclasses import replace
    from prefcal.home.settings import home_settings
    from prefcal.rq.attribution import attribute_policy
    from prefcal.rq.contract import snapshot_data
    from prefcal.rq.home_validation import (
        KnownPolicyStudies, home_attribution_confusion, read_validation_requests,
        validation_users)
    from prefcal.rq.hypotheses import analyse, hypothesis_rng
    from prefcal.rq.overlap import read_overlap_matrices
    settings = RQSettings.from_config(cfg)
    if mode == "old":
        from prefcal.rq.snapshots import read_shard_snapshots
        hypotheses.H1_MATRIX_ELEMENTS = 10**18  # always the full U x U matrix
        settings = replace(settings, mixed_max_users=10**9, home_max_users=10**9)
        snaps = read_shard_snapshots(f"{res}/home", f"{res}/data", shards, min_ms_played=min_ms)
    else:
        from prefcal.rq.shards import read_rq_snapshots
        snaps = read_rq_snapshots(args["work"], shards)
    tick("snapshots", t)
    t = time.perf_counter()
    overlap = read_overlap_matrices(
        f"{res}/home", f"{res}/data", f"{res}/clusters/item_taste.parquet", shards,
        settings.h6_window_days, min_ms, max_users=settings.h6_max_users, seed=settings.seed)
    tick("h6_overlap", t)
    t = time.perf_counter()
    rq = analyse({"content": snaps}, settings, overlap=overlap)
    tick("hypotheses", t)
    t = time.perf_counter()
    att = attribute_policy(snapshot_data(snaps, "content"), settings.n_bootstrap,
                           hypothesis_rng(settings.seed, "content", "attribution"),
                           settings.ci_level, settings.ll_floor,
                           method=settings.attribution_method)
    tick("attribution", t)
    t = time.perf_counter()
    home = home_settings(cfg)
    keep = validation_users(snaps["participant_id"], settings.home_max_users, settings.seed)
    logged = read_validation_requests(f"{res}/home", shards, keep)
    sub = snaps if keep is None else snaps[snaps["participant_id"].isin(keep)]
    studies = KnownPolicyStudies(sub, logged, home)
    conf, _ = home_attribution_confusion(studies, settings.home_attribution_replications,
                                         settings.seed, floor=settings.ll_floor,
                                         method=settings.attribution_method)
    tick("home_validation", t)
    out["results"] = rq.results.astype(str).to_dict("list")
    out["winner"] = att.winner
    out["home_accuracy"] = conf.accuracy
    out["snapshot_digest"] = str(pd.util.hash_pandas_object(snaps, index=False).sum())
    out["n_users"] = int(snaps["participant_id"].nunique())
out["times"] = times
out["peaks"] = peaks
out["peak_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
print("JOB " + json.dumps(out))
"""


def run_job(spec: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", JOB, json.dumps(spec)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": str(REPO / "src"), "MPLBACKEND": "Agg", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"job {spec['mode']} failed:\n{proc.stderr[-4000:]}")
    line = [x for x in proc.stdout.splitlines() if x.startswith("JOB ")][-1]
    return json.loads(line[4:])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="/tmp/scale/users_10000/results")
    ap.add_argument(
        "--config",
        nargs="+",
        default=[
            str(REPO / "config/config.yaml"),
            str(REPO / "config/scale.yaml"),
            "/tmp/scale/users_10000/config/scale_size.yaml",
        ],
        help="config files merged in order (the study's own)",
    )
    ap.add_argument("--skip-old", action="store_true", help="time only the new computation")
    args = ap.parse_args()
    results = str(Path(args.results).resolve())
    with tempfile.TemporaryDirectory(prefix="rq_scale_") as work:
        from prefcal.config import load_config

        n_shards = int(load_config(*args.config)["shards"])
        base = {"results": results, "config": args.config, "work": work}
        shard_jobs = [
            run_job({**base, "mode": "shard", "shard": f"{i:03d}"}) for i in range(n_shards)
        ]
        new = run_job({**base, "mode": "new"})
        old = None if args.skip_old else run_job({**base, "mode": "old"})

    def total(job: dict) -> float:
        return float(sum(job["times"].values()))

    shard_time = sum(total(j) for j in shard_jobs)
    shard_peak = max(j["peak_mb"] for j in shard_jobs)
    print(f"study: {results} ({new['n_users']} users, {n_shards} shards)")
    print(
        f"new  rq_snapshots jobs: {n_shards} x, slowest {max(total(j) for j in shard_jobs):.1f} s,"
        f" sum {shard_time:.1f} s, peak {shard_peak:.0f} MB (largest shard job)"
    )
    print(f"new  merge job: {total(new):.1f} s, peak {new['peak_mb']:.0f} MB")
    print(f"     step times (s) {new['times']}\n     peak MB after step {new['peaks']}")
    new_time = shard_time + total(new)
    new_peak = max(shard_peak, new["peak_mb"])
    print(f"new  stage 05: {new_time:.1f} s (sum of jobs), largest job peak {new_peak:.0f} MB")
    if old is None:
        return 0
    print(f"old  one job: {total(old):.1f} s, peak {old['peak_mb']:.0f} MB")
    print(f"     step times (s) {old['times']}\n     peak MB after step {old['peaks']}")
    print(
        f"ratio old / new: time {total(old) / new_time:.2f}x (sum of jobs),"
        f" {total(old) / max(total(new), 1e-9):.2f}x (merge job alone);"
        f" peak memory {old['peak_mb'] / new_peak:.2f}x"
    )
    same_snap = old["snapshot_digest"] == new["snapshot_digest"]
    ro, rn = old["results"], new["results"]
    rows = {h: i for i, h in enumerate(ro["hypothesis"])}
    print(f"snapshot tables identical: {same_snap}")
    for h in ("H1", "H2", "H3", "H4", "H5", "H6"):
        i = rows[h]
        cols = ("estimate", "ci_low", "ci_high", "p_value", "note")
        same = all(ro[c][i] == rn[c][i] for c in cols)
        print(
            f"  {h}: {'identical' if same else 'differs'}"
            f"  old p={ro['p_value'][i]} new p={rn['p_value'][i]} {rn['note'][i]}"
        )
    print(
        f"attribution winner old {old['winner']} new {new['winner']};"
        f" Home-log validation accuracy old {old['home_accuracy']:.3f}"
        f" new {new['home_accuracy']:.3f} (new on the rq.attribution.home_max_users subsample)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
