"""Benchmark: peak memory and time of stage 02's core computation, old (all playlist rows in one
job) vs new (per-shard summaries, then a combine job), on a finished scale run (issue 7).

Each measurement runs in a fresh child process; its peak resident memory is the child's
``ru_maxrss`` (``resource.getrusage(RUSAGE_CHILDREN)``), read by a wrapper process of its own.

* **old**: ``read_shards`` of every shard's ``playlists.parquet`` -> ``run_clustering`` ->
  ``playlist_clusters``, ``taste_types`` and ``cluster_cards`` (what notebook 02 did);
* **new, per shard**: ``prefcal clustering summarise`` of each shard (the largest peak and the
  summed time are reported); **new, combine**: ``run_clustering_shards`` ->
  ``playlist_clusters_from_shards``, ``taste_types_from_shards``, ``cluster_cards_from_shards``.

The new outputs are checked to equal the old ones (playlist table, item taste types, cards). With
``--replicate R`` the shards are first replicated R times with renamed participant and playlist
ids (``<id>`` -> ``r<j><id>``; items and artists shared, as one catalogue), an R-times larger
study; above ``clustering.max_playlists`` the new path fits a sample and the equality check is
replaced by the adjusted Rand index between old and new labels. Stage 03's combine step
(``read_shard_features`` + ``profiles_from_shards``) is measured too (unchanged code).

    nice -n 5 .venv/bin/python bench/stage23_scale.py --results /tmp/scale/users_10000/results \\
        --work /tmp/stage23 [--replicate 4]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]

WRAP = r"""
import json, resource, subprocess, sys, time
t0 = time.perf_counter()
proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rc": proc.returncode, "maxrss_mb": peak / 1024, "wall": wall,
                  "stdout": proc.stdout[-3000:], "stderr": proc.stderr[-3000:]}))
"""

OLD = r"""
import sys, pickle
from pathlib import Path
from prefcal.clustering import stage
from prefcal.config import load_config
data, n, cfgs, out = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3].split(","), sys.argv[4]
config = load_config(*cfgs)
pl = stage.read_shards([data / f"shard_{i:03d}" / "playlists.parquet" for i in range(n)])
res = stage.run_clustering(pl, config)
clusters = stage.playlist_clusters(res, pl)
heard = __import__("pandas").Series(10, index=pl["creator_name"].dropna().unique())
taste = stage.taste_types(res, pl).to_frame()
cards = stage.cluster_cards(res, pl, heard, k_anonymity=5)
pickle.dump((clusters, taste, cards), open(out, "wb"))
"""

NEW = r"""
import sys, pickle
from pathlib import Path
import pandas as pd
from prefcal.clustering import stage
from prefcal.clustering.shards import read_shard_playlists
from prefcal.config import load_config
summ, n, cfgs, out = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3].split(","), sys.argv[4]
config = load_config(*cfgs)
dirs = [summ / f"shard_{i:03d}" for i in range(n)]
res, combined = stage.run_clustering_shards(dirs, config)
clusters = stage.playlist_clusters_from_shards(res, combined)
names = pd.concat([read_shard_playlists(d, ("artists",)).artists["artist"] for d in dirs])
heard = pd.Series(10, index=names.unique())  # every artist may be named (as in the old script)
taste = stage.taste_types_from_shards(res, combined).to_frame()
cards = stage.cluster_cards_from_shards(res, combined, heard, k_anonymity=5)
pickle.dump((clusters, taste, cards), open(out, "wb"))
"""

PREF = r"""
import sys
from pathlib import Path
from prefcal.config import load_config
from prefcal.preferences import PreferenceParams, shards
feat, n, cfgs = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3].split(",")
params = PreferenceParams.from_config(load_config(*cfgs))
f = shards.read_shard_features([feat / f"shard_{i:03d}" for i in range(n)], params)
static, context = shards.profiles_from_shards(f, params)
print(len(f.user_windows))
"""


def measure(args: list[str]) -> dict:
    """Run ``args`` in a child (itself run by a wrapper) and return peak MB and wall seconds."""
    out = subprocess.run(
        [sys.executable, "-c", WRAP, *args], capture_output=True, text=True, check=True
    )
    res = json.loads(out.stdout)
    if res["rc"] != 0:
        raise SystemExit(f"{' '.join(args[:3])} failed:\n{res['stderr']}")
    return res


def py(code: str, *argv: str) -> list[str]:
    return [sys.executable, "-c", code, *map(str, argv)]


def replicate(results: Path, n: int, times: int, work: Path) -> Path:
    """Shards ``0..n-1`` of ``results/data`` copied ``times`` times with renamed ids."""
    data = work / "data"
    if data.exists():
        shutil.rmtree(data)
    for j in range(times):
        for i in range(n):
            t = pq.read_table(results / "data" / f"shard_{i:03d}" / "playlists.parquet")
            for col in ("participant_id", "playlist_id"):
                idx = t.schema.get_field_index(col)
                t = t.set_column(idx, col, pc.binary_join_element_wise(f"r{j}", t[col], ""))
            d = data / f"shard_{j * n + i:03d}"
            d.mkdir(parents=True)
            pq.write_table(t, d / "playlists.parquet")
    return data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", default="/tmp/scale/users_10000/results")
    ap.add_argument("--shards", type=int, default=0, help="0 = every shard_NNN found")
    ap.add_argument("--configs", default="config/config.yaml,config/scale.yaml")
    ap.add_argument("--replicate", type=int, default=1)
    ap.add_argument("--work", default="/tmp/stage23_bench")
    ap.add_argument("--skip-old", action="store_true", help="measure the new path only")
    args = ap.parse_args()
    results = Path(args.results)
    n = args.shards or len(list((results / "data").glob("shard_*/playlists.parquet")))
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cfgs = ",".join(str(REPO / c) for c in args.configs.split(","))
    data = results / "data"
    if args.replicate > 1:
        data = replicate(results, n, args.replicate, work)
        n *= args.replicate
    print(f"{n} shards of {data}", flush=True)

    summ = work / "summaries"
    peaks, t_shards = [], 0.0
    for i in range(n):
        r = measure(
            [
                sys.executable,
                "-m",
                "prefcal",
                "clustering",
                "summarise",
                "--playlists",
                str(data / f"shard_{i:03d}" / "playlists.parquet"),
                "--out",
                str(summ / f"shard_{i:03d}"),
            ]
        )
        peaks.append(r["maxrss_mb"])
        t_shards += r["wall"]
    print(f"new, per shard : max peak {max(peaks):7.0f} MB, {t_shards:6.1f} s summed over {n} jobs")
    new = measure(py(NEW, summ, n, cfgs, work / "new.pkl"))
    print(f"new, combine   : peak {new['maxrss_mb']:7.0f} MB, {new['wall']:6.1f} s")
    if not args.skip_old:
        old = measure(py(OLD, data, n, cfgs, work / "old.pkl"))
        print(f"old, one job   : peak {old['maxrss_mb']:7.0f} MB, {old['wall']:6.1f} s")
        import pickle

        from sklearn.metrics import adjusted_rand_score

        o_clusters, o_taste, o_cards = pickle.load(open(work / "old.pkl", "rb"))
        n_clusters, n_taste, n_cards = pickle.load(open(work / "new.pkl", "rb"))
        if n_clusters["cluster"].equals(o_clusters["cluster"]):
            same = [o_clusters.equals(n_clusters), o_taste.equals(n_taste), o_cards.equals(n_cards)]
            print(f"outputs identical (playlist table, item taste types, cards): {same}")
        else:
            ari = adjusted_rand_score(o_clusters["cluster"], n_clusters["cluster"])
            print(
                f"sampled fit: ARI(old labels, new labels) = {ari:.3f}; "
                f"items {len(o_taste):,} vs {len(n_taste):,}"
            )
        big = max(max(peaks), new["maxrss_mb"])
        print(
            f"RATIO peak memory new/old: {big / old['maxrss_mb']:.2f} "
            f"(largest new job {big:.0f} MB vs {old['maxrss_mb']:.0f} MB); "
            f"time (combine job) new/old: {new['wall'] / old['wall']:.2f}; "
            f"time (all new jobs) new/old: {(new['wall'] + t_shards) / old['wall']:.2f}"
        )
    feat = results / "preferences"
    if args.replicate == 1 and (feat / "shard_000").is_dir():
        r = measure(py(PREF, feat, n, cfgs))
        print(
            f"stage 03 combine (read_shard_features + profiles): peak {r['maxrss_mb']:.0f} MB, "
            f"{r['wall']:.1f} s"
        )


if __name__ == "__main__":
    main()
