"""Stage 03 combined one shard at a time equals stage 03 of all users at once (issue 7)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prefcal.clustering.stage import read_shards
from prefcal.config import load_config
from prefcal.ingest.pipeline import ingest
from prefcal.preferences import PreferenceParams, combine, stage, truth
from prefcal.preferences.shards import shard_features, write_shard_features
from prefcal.simulate.runner import simulate_all

SIM = {"n_users": 12, "days": 30, "n_artists": 120, "n_shows": 20, "n_audiobooks": 10}
N_SHARDS = 3


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """12 simulated users in 3 shards: streams, per-shard features, truth, all-at-once results."""
    cfg = load_config(overrides={"shards": N_SHARDS, "simulation": SIM})
    root = tmp_path_factory.mktemp("prefcombine")
    simulate_all(cfg, root, N_SHARDS)
    paths = []
    for s in range(N_SHARDS):
        out = root / "data" / f"shard_{s:03d}"
        ingest(sorted((root / "raw" / f"shard_{s:03d}").iterdir()), out, id_seed=cfg["seed"])
        paths.append(out / "streams.parquet")
    params = PreferenceParams.from_config(cfg)
    streams = read_shards(paths, columns=list(stage.STREAM_COLUMNS))
    t = stage.evaluation_time(streams)
    dirs = []
    for i, p in enumerate(paths):
        one = read_shards([p], columns=list(stage.STREAM_COLUMNS))
        dirs.append(root / "features" / f"shard_{i:03d}")
        write_shard_features(shard_features(one, t, params), dirs[-1], params)
    truth_dirs = [root / "truth" / "users" / f"shard_{s:03d}" for s in range(N_SHARDS)]
    static, context = stage.estimate_profiles(streams, t, params)
    return cfg, params, dirs, truth_dirs, static, context, root


def test_profiles_written_shard_by_shard_equal_the_whole_study(study, tmp_path):
    cfg, params, dirs, _, _, context, _ = study
    users = combine.read_user_tables(dirs, params)
    assert len(users.user_windows) == SIM["n_users"]
    assert sum(u.size for u in users.shard_users) == SIM["n_users"]
    shrink = combine.estimate_shrinkage(users, params, max_users=None, seed=cfg["seed"])
    assert shrink.n_estimation_users == SIM["n_users"]
    for label, prof in context.items():  # the same strengths as all users at once
        assert shrink.alpha_user[label] == prof.alpha_user
        assert shrink.alpha_context[label] == prof.alpha_context
    ref = context[shrink.ref]
    assert shrink.summary() == stage.ProfileSummary.of(ref)
    assert shrink.median_user_streams == float(np.median(ref.user_counts.sum(axis=1)))
    ctx_path, usr_path = tmp_path / "context.parquet", tmp_path / "users.parquet"
    # ranges of 5 users: several row groups, ranges that cut across shards
    combine.write_profile_tables(users, shrink, params, ctx_path, usr_path, users_per_range=5)
    assert pq.ParquetFile(ctx_path).metadata.num_row_groups == 3

    def stored(frame: pd.DataFrame) -> pd.DataFrame:
        return pa.Table.from_pandas(frame, preserve_index=False).to_pandas()

    pd.testing.assert_frame_equal(pd.read_parquet(ctx_path), stored(ref.to_frame()))
    pd.testing.assert_frame_equal(pd.read_parquet(usr_path), stored(ref.users_frame()))
    assert not list(tmp_path.glob(".merge_*"))  # the per-shard parts are removed


def test_example_users_of_the_shards_are_those_of_the_whole_study(study):
    cfg, params, dirs, _, _, context, _ = study
    users = combine.read_user_tables(dirs, params)
    shrink = combine.estimate_shrinkage(users, params, max_users=None, seed=cfg["seed"])
    for n in (1, 4, 20):
        chosen, sub = combine.example_profiles(users, shrink, params, n=n)
        assert chosen == stage.example_users(context[shrink.ref], n=n)
        assert list(sub.users) == chosen
        rows = context[shrink.ref].users.get_indexer(chosen)
        np.testing.assert_array_equal(
            stage.block_profiles(sub), stage.block_profiles(context[shrink.ref])[rows]
        )


def test_profile_error_from_shard_sums_equals_the_whole_study_table(study):
    cfg, params, dirs, truth_dirs, static, context, _ = study
    params = PreferenceParams(**{**params.__dict__, "n_bootstrap": 150})
    users = combine.read_user_tables(dirs, params)
    shrink = combine.estimate_shrinkage(users, params, max_users=None, seed=cfg["seed"])

    def true_profiles(d):
        p, ids = truth.load_truth_users([d], cfg["seed"])
        return truth.true_context_profiles(p, ids, hour_blocks=params.hour_blocks, tau=0.9)

    everyone = pd.concat([true_profiles(d) for d in truth_dirs], ignore_index=True)
    want = stage.profile_error_table(
        static, context, everyone, params=params, seed=5, population="p"
    )
    sums = combine.profile_error_sums_by_shard(
        users, shrink, params, stage.static_estimates(users.user_windows, params), truth_dirs,
        true_profiles,
    )  # fmt: skip
    assert sums.users.tolist() == sorted(everyone["participant_id"].unique())
    got = stage.profile_error_from_sums(sums, n_bootstrap=150, seed=5, population="p", chunk=7)
    assert got[["estimator", "window", "n_users", "n_cells"]].equals(
        want[["estimator", "window", "n_users", "n_cells"]]
    )
    # the same draws and the same per-user sums: equal up to the rounding of the matrix products
    # (blocks of 7 replicates) and of the means (summed per user first)
    for col in ("error", "diff_vs_static", "diff_vs_shrunk", "ci_low", "ci_high",
                "shrunk_ci_low", "shrunk_ci_high"):  # fmt: skip
        np.testing.assert_allclose(
            got[col].to_numpy(), want[col].to_numpy(), rtol=1e-12, atol=1e-15
        )
    assert (got["error"] > 0).all() and (got["error"] <= 1).all()


def test_truth_shards_that_do_not_match_the_data_shards_are_an_error(study):
    cfg, params, dirs, truth_dirs, _, _, _ = study
    users = combine.read_user_tables(dirs, params)
    shrink = combine.estimate_shrinkage(users, params, max_users=None, seed=cfg["seed"])

    def true_profiles(d):
        p, ids = truth.load_truth_users([d], cfg["seed"])
        return truth.true_context_profiles(p, ids, hour_blocks=params.hour_blocks)

    static = stage.static_estimates(users.user_windows, params)
    with pytest.raises(ValueError, match="whose streams are in preference shard"):
        combine.profile_error_sums_by_shard(
            users, shrink, params, static, truth_dirs[::-1], true_profiles
        )
    with pytest.raises(ValueError, match="2 truth shards for 3"):
        combine.profile_error_sums_by_shard(
            users, shrink, params, static, truth_dirs[:2], true_profiles
        )


def test_strengths_are_estimated_on_a_seeded_sample_above_the_cap(study):
    cfg, params, dirs, _, _, context, _ = study
    users = combine.read_user_tables(dirs, params)
    a = combine.estimate_shrinkage(users, params, max_users=6, seed=cfg["seed"])
    b = combine.estimate_shrinkage(users, params, max_users=6, seed=cfg["seed"])
    assert a.n_estimation_users == 6
    assert a.alpha_context == b.alpha_context and a.alpha_user == b.alpha_user
    # the population totals (and the cell counts the paper quotes) are still the study's
    full = combine.estimate_shrinkage(users, params, max_users=None, seed=cfg["seed"])
    for label in full.totals:
        np.testing.assert_array_equal(a.totals[label], full.totals[label])
    assert a.summary().n_observed_cells == full.summary().n_observed_cells
    # the sample's strengths are those of the sampled users' counts with the study's totals
    from prefcal.preferences.context import shrinkage_strengths
    from prefcal.preferences.shards import read_shard_features
    from prefcal.rq.subsample import user_subsample

    counts = read_shard_features(dirs, params).counts
    for label, c in counts.items():
        if len(c.users) <= 6:  # a short window may have few users: all of them
            assert a.alpha_context[label] == full.alpha_context[label]
            continue
        sample = user_subsample(np.asarray(c.users), 6, cfg["seed"], combine.SHRINKAGE_STREAM)
        keep = np.flatnonzero(np.isin(np.asarray(c.users, dtype=str), sample))
        assert keep.size == 6
        sub = combine._take_counts(c, keep)
        assert (a.alpha_user[label], a.alpha_context[label]) == shrinkage_strengths(
            sub, params.shrinkage, total=full.totals[label]
        )


def test_sorted_merge_keeps_every_row_in_key_order(tmp_path):
    rng = np.random.default_rng(3)
    parts, frames = [], []
    for i in range(4):
        keys = np.sort(rng.choice([f"P{j:03d}" for j in range(40)], size=15))
        frame = pd.DataFrame({"participant_id": keys, "i": i, "v": np.arange(15)})
        frames.append(frame)
        parts.append(tmp_path / f"part{i}.parquet")
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), parts[-1])
    allkeys = np.sort(pd.concat(frames)["participant_id"].unique())
    n = combine.write_sorted_tables(parts, tmp_path / "out.parquet", list(allkeys[::4]))
    got = pd.read_parquet(tmp_path / "out.parquet")
    want = pd.concat(frames, ignore_index=True).sort_values(
        "participant_id", kind="stable", ignore_index=True
    )
    assert n == 60
    pd.testing.assert_frame_equal(got, want)


@pytest.mark.parametrize("n", [1, 2, 7, 50, 51])
def test_median_of_a_histogram_is_numpy_median(n):
    values = np.random.default_rng(n).integers(0, 9, size=n)
    hist = np.bincount(values)
    assert combine._median_of_histogram(hist) == float(np.median(values))


def test_profile_error_sums_equal_the_cell_distances_of_every_estimator(study):
    """The fast sums (truth pivoted once) use the very distances of ``_cell_distances``."""
    from prefcal.preferences.profile_error import _cell_distances

    cfg, params, _, truth_dirs, static, context, _ = study
    p, ids = truth.load_truth_users(truth_dirs, cfg["seed"])
    true = truth.true_context_profiles(p, ids, hour_blocks=params.hour_blocks, tau=0.8)
    true = true[true["participant_id"] != true["participant_id"].iloc[0]]  # one user lacks truth
    static = {k: v.iloc[1:] for k, v in static.items()}  # and one user lacks static estimates
    sums = stage.profile_error_sums(static, context, true, params=params)
    assert len(sums.rows) == 1 + 5 + 3 * 3  # population, 3 windows + 2 half-lives, 3 x context
    for j, (estimator, label, _) in enumerate(sums.rows):
        if estimator in ("population", "static"):
            key = "population" if estimator == "population" else label
            est = stage._static_cells(static[key], true)
            kind = "shrunk"
        else:
            est = context[label]
            kind = {"static, shrunk": "prior", "context, raw": "raw"}.get(estimator, "shrunk")
        cells = _cell_distances(est, true, share_col="share", est_col="est", kind=kind)
        codes, users = pd.factorize(cells["participant_id"])
        want = np.bincount(codes, weights=cells["js_distance"].to_numpy())
        assert list(users) == list(sums.users)
        np.testing.assert_array_equal(sums.dist[:, j], want)
    np.testing.assert_array_equal(sums.n_cells, np.bincount(codes).astype(float))
    ref = [e == "static" and lab == "90d" for e, lab, _ in sums.rows].index(True)
    np.testing.assert_array_equal(sums.vs_static[:, ref], 0.0)


def test_sorted_merge_with_an_empty_first_shard(tmp_path):
    """A shard without participants (usual with few donors) stores its text columns as null
    type; the merge still gives every row of the other shards, with their types."""
    empty = pd.DataFrame(
        {"participant_id": pd.Series([], dtype=object), "habit_show": pd.Series([], dtype=object)}
    )
    no_show = pd.DataFrame({"participant_id": ["P0"], "habit_show": [None]})  # null column
    full = pd.DataFrame({"participant_id": ["P1", "P2"], "habit_show": ["News", None]})
    parts = [tmp_path / f"{n}.parquet" for n in "abc"]
    for frame, path in zip((empty, no_show, full), parts, strict=True):
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    assert pq.read_schema(parts[0]).field("participant_id").type == pa.null()
    assert pq.read_schema(parts[1]).field("habit_show").type == pa.null()
    n = combine.write_sorted_tables(parts, tmp_path / "out.parquet", ["P0", "P1", "P2"])
    assert n == 3
    out = pq.read_table(tmp_path / "out.parquet")
    for name in ("participant_id", "habit_show"):
        kind = out.schema.field(name).type
        assert pa.types.is_string(kind) or pa.types.is_large_string(kind)
    assert out.column("habit_show").to_pylist() == [None, "News", None]
