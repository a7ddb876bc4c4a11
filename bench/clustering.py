"""Benchmark: playlist clustering of 1,000,000 MPD-like synthetic playlists (issue 3 bar).

Bar: the whole clustering stage (TF-IDF, TruncatedSVD, MiniBatchKMeans over the k grid with several
seeds, silhouette / Davies-Bouldin / seed ARI / bootstrap Jaccard, the choice of k, NMF) on
1,000,000 playlists finishes in under 10 minutes with peak memory under 6 GB on 2 cores.

Baseline measured in the same run: the same stage on 100,000 playlists; the script prints the wall
time per playlist of both and their ratio (1.0 = linear scaling). Each size runs in its own child
process so that its peak RSS (``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is its own; the data
generation is timed and reported separately from the stage.

Synthetic data (generated from integer codes, seeded): ``n_artists`` artists split over
``n_genres`` latent genres, Zipf popularity (exponent 1) within genre; playlist lengths log-normal
with median 49 and mean ~66, clipped to [5, 250] as in the MPD; each track is from the playlist's
main genre (85 %), a second genre (10 %) or any genre (5 %), and with probability 0.35 repeats the
previous track's artist (album runs).

    nice -n 10 .venv/bin/python bench/clustering.py                 # 100k baseline + 1M
    nice -n 10 .venv/bin/python bench/clustering.py --sizes 20000 100000   # quick check
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from prefcal.clustering import ClusteringParams, agreement_with_truth, cluster_counts  # noqa: E402
from prefcal.clustering.features import counts_from_codes  # noqa: E402
from prefcal.config import load_config  # noqa: E402


def synthetic_playlists(
    n_playlists: int,
    *,
    n_artists: int = 200_000,
    n_genres: int = 16,
    seed: int = 0,
    chunk: int = 100_000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Playlist codes, artist codes (one per track), playlists' main genre, artists' genre."""
    rng = np.random.default_rng(seed)
    genre_pop = rng.dirichlet(np.full(n_genres, 5.0))
    artist_genre = np.sort(rng.choice(n_genres, size=n_artists, p=genre_pop))
    # Zipf weights by a random global rank; CDF within each genre, shifted by the genre id
    weight = 1.0 / (1.0 + rng.permutation(n_artists))
    cdf = np.empty(n_artists)
    starts = np.searchsorted(artist_genre, np.arange(n_genres + 1))
    for g in range(n_genres):
        w = weight[starts[g] : starts[g + 1]]
        cdf[starts[g] : starts[g + 1]] = g + np.cumsum(w) / w.sum()
        cdf[starts[g + 1] - 1] = g + 1.0
    main = rng.choice(n_genres, size=n_playlists, p=genre_pop).astype(np.int32)
    second = rng.choice(n_genres, size=n_playlists, p=genre_pop).astype(np.int32)
    lengths = np.clip(np.round(rng.lognormal(np.log(49.0), 0.77, n_playlists)), 5, 250).astype(
        np.int64
    )
    art_parts = []
    for lo in range(0, n_playlists, chunk):
        hi = min(lo + chunk, n_playlists)
        ln = lengths[lo:hi]
        pl = np.repeat(np.arange(hi - lo), ln)
        u = rng.random(pl.size, dtype=np.float32)
        anyg = rng.choice(n_genres, size=pl.size, p=genre_pop)
        genre = np.where(u < 0.85, main[lo:hi][pl], np.where(u < 0.95, second[lo:hi][pl], anyg))
        art = np.searchsorted(cdf, genre + rng.random(pl.size), side="right").astype(np.int32)
        np.minimum(art, n_artists - 1, out=art)
        first = np.zeros(pl.size, dtype=bool)
        first[np.cumsum(ln)[:-1]] = True
        first[0] = True
        fresh = first | (rng.random(pl.size, dtype=np.float32) >= 0.35)
        idx = np.maximum.accumulate(np.where(fresh, np.arange(pl.size), 0))
        art_parts.append(art[idx])
    playlist_codes = np.repeat(np.arange(n_playlists, dtype=np.int32), lengths)
    return playlist_codes, np.concatenate(art_parts), main, artist_genre


def run_one(n: int, seed: int) -> dict:
    """Generate ``n`` playlists and run the clustering stage; return timings and peak memory."""
    config = load_config()
    params = ClusteringParams.from_config(config)
    t0 = time.perf_counter()
    p_codes, a_codes, main, _ = synthetic_playlists(n, seed=seed)
    n_artists = int(a_codes.max()) + 1
    counts = counts_from_codes(p_codes, a_codes, n, n_artists)
    n_tracks = int(p_codes.size)
    del p_codes, a_codes
    t_gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = cluster_counts(counts, params, seed=config["seed"])
    t_stage = time.perf_counter() - t0
    agree = agreement_with_truth(res.labels, main)
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    return {
        "n_playlists": n,
        "n_tracks": n_tracks,
        "nnz": int(counts.nnz),
        "n_artists_kept": int(res.kept_columns.size),
        "generate_s": t_gen,
        "stage_s": t_stage,
        "steps_s": res.timings,
        "peak_rss_gb": peak_gb,
        "k": res.k,
        "ari": agree["ari"],
        "nmi": agree["nmi"],
        "selection": res.selection.drop(columns=["reason"]).to_dict(orient="list"),
        "reason": res.selection.loc[res.selection["chosen"], "reason"].iloc[0],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child, args.seed)))
        return 0
    env = dict(os.environ, OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS="2", MKL_NUM_THREADS="2")
    results = []
    for n in args.sizes:
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(n), "--seed", str(args.seed)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        if out.returncode != 0:
            print(out.stderr, file=sys.stderr)
            return out.returncode
        r = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(r)
        steps = ", ".join(f"{k} {v:.1f}s" for k, v in r["steps_s"].items())
        print(
            f"n={n:>9,d} playlists  tracks={r['n_tracks']:,d}  nnz={r['nnz']:,d}  "
            f"artists kept={r['n_artists_kept']:,d}"
        )
        print(f"  data generation {r['generate_s']:.1f}s (not part of the stage)")
        print(f"  clustering stage wall time {r['stage_s']:.1f}s  [{steps}]")
        print(
            f"  peak RSS {r['peak_rss_gb']:.2f} GB   chosen k={r['k']}  "
            f"ARI={r['ari']:.3f}  NMI={r['nmi']:.3f}"
        )
        sel = r["selection"]
        for i, k in enumerate(sel["k"]):
            print(
                f"    k={k:>3d} sil={sel['silhouette'][i]:.3f} DB={sel['davies_bouldin'][i]:.3f} "
                f"seedARI={sel['seed_ari'][i]:.3f} meanJ={sel['mean_jaccard'][i]:.3f} "
                f"stable={sel['n_stable'][i]:>2d}/{k}{'  <- chosen' if sel['chosen'][i] else ''}"
            )
        print(f"  reason: {r['reason']}")
    if len(results) >= 2:
        base, big = results[0], results[-1]
        per_base = base["stage_s"] / base["n_playlists"] * 1e6
        per_big = big["stage_s"] / big["n_playlists"] * 1e6
        print(
            f"time per playlist: {per_big:.1f} us at n={big['n_playlists']:,d} "
            f"vs {per_base:.1f} us at "
            f"n={base['n_playlists']:,d} (baseline): ratio {per_big / per_base:.2f}"
        )
    big = results[-1]
    ok = big["stage_s"] < 600 and big["peak_rss_gb"] < 6
    print(
        f"BAR (n={big['n_playlists']:,d}: < 600 s and < 6 GB): {'PASS' if ok else 'FAIL'} "
        f"({big['stage_s']:.0f} s, {big['peak_rss_gb']:.2f} GB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
