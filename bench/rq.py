"""Benchmark and validation of the RQ analysis (issue 5 bars), on simulated snapshots.

1. **Speed.** The full analysis (:func:`prefcal.rq.analyse`: H1-H6 with ``rq.n_permutations``
   permutations and ``rq.n_bootstrap`` bootstrap resamples, the mixed models, Benjamini-Hochberg and
   the policy attribution with its bootstrap) on a default-sized study - ``rq.synthetic.n_users``
   users x ~``snapshots_per_user`` snapshots, in two type dimensions (content: 3 types; taste:
   ``n_taste_types`` clusters) - must finish in under 3 minutes. Baseline in the same run: the
   naive per-permutation Python loops (``*_loop`` in :mod:`prefcal.rq.resampling`, plus a loop
   slope) for the same resampling of the content dimension, timed on ``--naive-draws`` draws and
   extrapolated linearly; the script prints the ratio naive / vectorised for the resampling, and
   the full analysis time with naive resampling (extrapolated) against the real one.
2. **Attribution** accuracy >= 90 %: ``rq.attribution.n_replications`` studies of the default
   size per known policy (recommender alignment ``rq.synthetic.alignment``), confusion matrix.
3. **H1 false-positive rate** within 5 % +/- 2 % over ``rq.null_study.n_replications`` (>= 200)
   studies of a recommender that ignores preferences.
4. **Power curve** of H1 over ``rq.power`` (participants x alignment), with
   ``--power-replications`` replications per point (``0`` skips it).
5. **Home logs** (with ``--results DIR``, a study's ``results/`` with ``home/``, ``data/`` and
   ``clusters/item_taste.parquet``): the snapshot table, H1-H6 with the H6 overlap matrices and the
   attribution of the logged requests, timed; then the attribution accuracy >= 90 % on Home logs
   served by each known policy (``rq.attribution.home_replications`` studies per policy), strict
   and with the policies that serve identical slates merged (the bar counts the merged accuracy:
   no method can split identical logs).

    nice -n 10 .venv/bin/python bench/rq.py
    nice -n 10 .venv/bin/python bench/rq.py --skip attribution null --power-replications 0
    nice -n 10 .venv/bin/python bench/rq.py --skip speed attribution null --power-replications 0 \
        --results results
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from prefcal.config import load_config  # noqa: E402
from prefcal.rq import (  # noqa: E402
    RQSettings,
    analyse,
    attribution_confusion,
    cross_js_matrix,
    h1_null_rate,
    h1_power_curve,
    js_rows,
    simulate_snapshots,
    user_mean,
)
from prefcal.rq.resampling import (  # noqa: E402
    assignment_permutation_loop,
    assignment_permutation_test,
    bootstrap_mean,
    bootstrap_mean_loop,
    bootstrap_slope,
    sign_flip_loop,
    sign_flip_test,
    slope_permutation_test,
)


def slope_loop(x: np.ndarray, y: np.ndarray, n_draws: int, rng: np.random.Generator) -> None:
    """Naive bootstrap + permutation of an OLS slope: a Python loop per draw and per user."""
    n = x.size

    def slope(xs, ys) -> float:
        mx = sum(xs) / n
        my = sum(ys) / n
        sxy = sum((a - mx) * (b - my) for a, b in zip(xs, ys, strict=True))
        sxx = sum((a - mx) ** 2 for a in xs)
        return sxy / sxx

    for _ in range(n_draws):
        u = rng.random(n)
        idx = [min(int(v * n), n - 1) for v in u]
        slope([x[i] for i in idx], [y[i] for i in idx])
    for _ in range(n_draws):
        perm = np.argsort(rng.random(n), kind="stable")
        slope([x[i] for i in perm], list(y))


def resampling_inputs(data) -> dict[str, np.ndarray]:
    """The per-user vectors and the H1 matrix that the resampling of one dimension works on."""
    js = {
        t: js_rows(data.counts, data.targets[t])
        for t in ("hist_90", "hist_7", "context", "popularity")
    }
    um = lambda v: user_mean(v, data.user, data.n_users)  # noqa: E731
    pbar = um(data.targets["hist_90"])
    d = cross_js_matrix(data.counts, data.user, data.n_users, pbar)
    x = um(data.extras["entropy"])
    return {
        "d": d,
        "h1": (d.sum(axis=1) - np.diag(d)) / (d.shape[0] - 1) - np.diag(d),
        "h2": um(js["popularity"] - js["hist_90"]),
        "h3": um(js["hist_90"] - js["hist_7"]),
        "h5": um(js["hist_90"] - js["context"]),
        "h6": um(data.extras["cluster_overlap"] - data.extras["item_overlap"]),
        "x": (x - x.mean()) / x.std(),
        "y": um(js["popularity"] - js["hist_90"]),
    }


def vectorised_resampling(inp: dict[str, np.ndarray], b: int, rng: np.random.Generator) -> None:
    assignment_permutation_test(inp["d"], b, rng)
    bootstrap_mean(inp["h1"], b, rng)
    for k in ("h2", "h3", "h5", "h6"):
        bootstrap_mean(inp[k], b, rng)
        sign_flip_test(inp[k], b, rng)
    bootstrap_slope(inp["x"], inp["y"], b, rng)
    slope_permutation_test(inp["x"], inp["y"], b, rng)


def naive_resampling(inp: dict[str, np.ndarray], b: int, rng: np.random.Generator) -> None:
    assignment_permutation_loop(inp["d"], b, rng)
    bootstrap_mean_loop(inp["h1"], b, rng)
    for k in ("h2", "h3", "h5", "h6"):
        bootstrap_mean_loop(inp[k], b, rng)
        sign_flip_loop(inp[k], b, rng)
    slope_loop(inp["x"], inp["y"], b, rng)


def bench_speed(s: RQSettings, naive_draws: int) -> bool:
    t0 = time.perf_counter()
    content = simulate_snapshots(s.synthetic, "hist_90", s.synthetic_alignment, s.seed).data
    taste = simulate_snapshots(s.taste_config(), "hist_90", s.synthetic_alignment, s.seed + 1).data
    print(
        f"study: {content.n_users:,d} users, {content.n_snapshots:,d} content snapshots (3 types), "
        f"{taste.n_snapshots:,d} taste snapshots ({taste.n_types} clusters); "
        f"simulated in {time.perf_counter() - t0:.1f}s"
    )
    t0 = time.perf_counter()
    res = analyse({"content": content, "taste": taste}, s, attribution=True)
    t_full = time.perf_counter() - t0
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(res.results.drop(columns=["statistic", "note"]).to_string(index=False))
        print("attribution (content):")
        print(res.attribution["content"].to_string(index=False))
    print(
        f"full analysis (2 dimensions, {s.n_permutations} permutations, {s.n_bootstrap} bootstrap "
        f"resamples, mixed models, attribution): {t_full:.1f}s"
    )

    inp = resampling_inputs(content)
    t0 = time.perf_counter()
    vectorised_resampling(inp, s.n_permutations, np.random.default_rng(0))
    t_vec = time.perf_counter() - t0
    t0 = time.perf_counter()
    naive_resampling(inp, naive_draws, np.random.default_rng(0))
    t_naive = (time.perf_counter() - t0) / naive_draws * s.n_permutations
    print(
        f"resampling of one dimension ({content.n_users:,d} users, {s.n_permutations} draws each "
        f"of 12 tests): vectorised {t_vec:.2f}s; naive per-draw Python loop "
        f"{t_naive:.1f}s (timed on {naive_draws} draws, extrapolated) -> {t_naive / t_vec:,.0f}x"
    )
    full_naive = t_full - 2 * t_vec + 2 * t_naive
    print(
        f"full analysis with naive loops (both dimensions, extrapolated): "
        f"{full_naive / 60:.1f} min vs {t_full:.1f}s -> {full_naive / t_full:.1f}x"
    )
    ok = t_full < 180
    print(f"BAR speed (< 180 s): {'PASS' if ok else 'FAIL'} ({t_full:.1f} s)")
    return ok


def bench_attribution(s: RQSettings) -> bool:
    t0 = time.perf_counter()
    conf = attribution_confusion(
        s.synthetic,
        s.synthetic_alignment,
        s.attribution_replications,
        s.seed,
        floor=s.ll_floor,
        method=s.attribution_method,
    )
    print(
        f"attribution: {s.attribution_replications} studies per policy, {s.synthetic.n_users} "
        f"users x ~{s.synthetic.snapshots_per_user:g} snapshots, alignment "
        f"{s.synthetic_alignment} ({time.perf_counter() - t0:.1f}s)"
    )
    print(conf.matrix.to_string())
    print(
        "fitted weight of the attributed target: "
        f"{conf.runs['weight'].min():.3f} .. {conf.runs['weight'].max():.3f}; smallest margin "
        f"{conf.runs['margin'].min():.5f} nats/item"
    )
    ok = conf.accuracy >= 0.9
    print(f"BAR attribution accuracy (>= 90 %): {'PASS' if ok else 'FAIL'} ({conf.accuracy:.1%})")
    return ok


def bench_null(s: RQSettings) -> bool:
    t0 = time.perf_counter()
    ns = s.null_study
    res = h1_null_rate(s.null_config(), ns.n_replications, ns.n_permutations, s.alpha, s.seed)
    print(
        f"H1 null: {res.n_replications} studies x {ns.n_users} users x ~{ns.snapshots_per_user:g} "
        f"snapshots, {ns.n_permutations} permutations each ({time.perf_counter() - t0:.1f}s): "
        f"false-positive rate {res.rate:.3f} (95 % CI {res.ci_low:.3f}-{res.ci_high:.3f}), "
        f"KS distance of p from U(0,1) {res.ks_statistic:.3f}"
    )
    ok = abs(res.rate - s.alpha) <= 0.02 and res.n_replications >= 200
    print(f"BAR H1 false-positive rate (5 % +/- 2 %, >= 200 reps): {'PASS' if ok else 'FAIL'}")
    return ok


def bench_power(s: RQSettings, reps: int) -> None:
    t0 = time.perf_counter()
    curve = h1_power_curve(
        s.power_config(),
        s.power.n_users,
        s.power.alignment,
        reps,
        s.power.n_permutations,
        s.alpha,
        s.seed,
    )
    table = curve.pivot(index="n_users", columns="alignment", values="power")
    print(f"H1 power ({reps} replications per point, {time.perf_counter() - t0:.1f}s):")
    print(table.to_string(float_format=lambda v: f"{v:.2f}"))


def bench_home(s: RQSettings, results: Path, cfg: dict) -> bool:
    from prefcal.home.known_policies import read_logged_requests
    from prefcal.home.settings import home_settings
    from prefcal.rq.attribution import attribute_policy
    from prefcal.rq.contract import snapshot_data
    from prefcal.rq.home_validation import KnownPolicyStudies, home_attribution_confusion
    from prefcal.rq.hypotheses import hypothesis_rng
    from prefcal.rq.overlap import read_overlap_matrices
    from prefcal.rq.snapshots import read_shard_snapshots

    shards = [f"{i:03d}" for i in range(int(cfg["shards"]))]
    home, data = results / "home", results / "data"
    min_ms = int(cfg["ingest"]["min_ms_played"])
    t0 = time.perf_counter()
    snaps = read_shard_snapshots(home, data, shards, min_ms_played=min_ms)
    t_snap = time.perf_counter() - t0
    t0 = time.perf_counter()
    overlap = read_overlap_matrices(
        home, data, results / "clusters" / "item_taste.parquet", shards, s.h6_window_days, min_ms
    )
    t_overlap = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = analyse({"content": snaps}, s, overlap=overlap)
    t_hyp = time.perf_counter() - t0
    t0 = time.perf_counter()
    att = attribute_policy(
        snapshot_data(snaps, "content"),
        s.n_bootstrap,
        hypothesis_rng(s.seed, "content", "attribution"),
        s.ci_level,
        s.ll_floor,
        method=s.attribution_method,
    )
    t_att = time.perf_counter() - t0
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(res.results.drop(columns=["statistic", "note"]).to_string(index=False))
        print(att.table.to_string(index=False))
    print(
        f"Home analysis ({len(snaps):,d} snapshots): snapshot table {t_snap:.1f}s, H6 overlap "
        f"{t_overlap:.1f}s, H1-H6 {t_hyp:.1f}s, attribution {t_att:.1f}s; attributed "
        f"{att.winner}, margin {att.margin:.5f} [{att.margin_ci_low:.5f}, "
        f"{att.margin_ci_high:.5f}] nats/item"
    )
    ok_speed = t_snap + t_overlap + t_hyp + t_att < 180
    print(f"BAR Home analysis speed (< 180 s): {'PASS' if ok_speed else 'FAIL'}")
    t0 = time.perf_counter()
    studies = KnownPolicyStudies(snaps, read_logged_requests(home, shards), home_settings(cfg))
    conf, _ = home_attribution_confusion(
        studies,
        s.home_attribution_replications,
        s.seed,
        floor=s.ll_floor,
        method=s.attribution_method,
    )
    print(
        f"Home known policies: {s.home_attribution_replications} studies per policy "
        f"({time.perf_counter() - t0:.1f}s)"
    )
    print(conf.matrix.to_string())
    ok = conf.accuracy_merged >= 0.9
    print(
        f"BAR Home attribution accuracy (>= 90 %): {'PASS' if ok else 'FAIL'} (strict "
        f"{conf.accuracy:.1%}, identical-log groups {conf.groups} "
        f"merged {conf.accuracy_merged:.1%})"
    )
    return ok and ok_speed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=str(REPO / "config" / "config.yaml"))
    parser.add_argument("--naive-draws", type=int, default=20)
    parser.add_argument("--power-replications", type=int, default=50)
    parser.add_argument("--skip", nargs="*", default=[], choices=["speed", "attribution", "null"])
    parser.add_argument("--results", default="", help="a study's results/ for the Home-log bars")
    args = parser.parse_args()
    cfg = load_config(args.config)
    s = RQSettings.from_config(cfg)
    ok = True
    if "speed" not in args.skip:
        ok &= bench_speed(s, args.naive_draws)
    if "attribution" not in args.skip:
        ok &= bench_attribution(s)
    if "null" not in args.skip:
        ok &= bench_null(s)
    if args.power_replications > 0:
        bench_power(s, args.power_replications)
    if args.results:
        ok &= bench_home(s, Path(args.results), cfg)
    print(f"ALL BARS: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
