"""Stage 03 shard by shard equals stage 03 on all streams at once (issue 7)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prefcal.clustering.stage import read_shards
from prefcal.config import load_config
from prefcal.ingest.pipeline import ingest
from prefcal.preferences import PreferenceParams, stage
from prefcal.preferences.shards import (
    evaluation_summary,
    evaluation_time_of_shards,
    participant_streams,
    profiles_from_shards,
    read_shard_features,
    shard_features,
    write_shard_features,
)
from prefcal.simulate.runner import simulate_all

SIM = {"n_users": 9, "days": 30, "n_artists": 120, "n_shows": 20, "n_audiobooks": 10}


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    cfg = load_config(overrides={"shards": 3, "simulation": SIM})
    root = tmp_path_factory.mktemp("prefshards")
    simulate_all(cfg, root, 3)
    paths = []
    for s in range(3):
        out = root / "data" / f"shard_{s:03d}"
        donations = sorted((root / "raw" / f"shard_{s:03d}").iterdir())  # one per participant
        ingest(donations, out, id_seed=cfg["seed"], threads=1)
        paths.append(out / "streams.parquet")
    return cfg, root, paths


def _play_end_day_after(streams: pd.DataFrame) -> pd.Timestamp:
    """The oracle of t_eval: the day after max e_i, e_i = offline_ts + ms_played for offline
    plays with an offline_ts, else ts_end (written out with pandas)."""
    off = streams["offline"].fillna(False).astype(bool) & streams["offline_ts"].notna()
    e = streams["ts_end"].where(
        ~off, streams["offline_ts"] + pd.to_timedelta(streams["ms_played"], unit="ms")
    )
    return e.max().floor("D") + pd.Timedelta(days=1)


def test_t_eval_of_shards_equals_t_eval_of_all_streams(shards):
    _, _, paths = shards
    streams = read_shards(paths, columns=list(stage.STREAM_COLUMNS))
    assert evaluation_time_of_shards(paths) == stage.evaluation_time(streams)
    assert evaluation_time_of_shards(paths) == _play_end_day_after(streams)
    assert evaluation_time_of_shards(paths).hour == 0


def test_offline_plays_synced_six_days_late_do_not_move_t_eval(shards, tmp_path):
    """The last day's plays of every shard turned into offline plays synced 6 days later: t_eval
    stays (their play ends are unchanged); the old definition (last ts_end) moves 6 days."""
    _, _, paths = shards
    t = evaluation_time_of_shards(paths)
    late_paths, frames, n_late = [], [], 0
    for i, p in enumerate(paths):
        table = pq.read_table(p)
        f = table.to_pandas()
        last_day = f.index[(f["ts_end"] >= t - pd.Timedelta(days=1)) & (f["ts_end"] < t)][:5]
        n_late += len(last_day)
        f.loc[last_day, "offline"] = True
        f.loc[last_day, "offline_ts"] = f.loc[last_day, "ts_start"]
        f.loc[last_day, "ts_end"] += pd.Timedelta(days=6)
        late_paths.append(tmp_path / f"late_{i}.parquet")
        pq.write_table(
            pa.Table.from_pandas(f, schema=table.schema, preserve_index=False), late_paths[-1]
        )
        frames.append(f)
    assert n_late > 0
    streams = pd.concat(frames, ignore_index=True)
    old = streams["ts_end"].max().floor("D") + pd.Timedelta(days=1)
    assert old == t + pd.Timedelta(days=6)
    assert evaluation_time_of_shards(late_paths) == t
    assert stage.evaluation_time(streams) == t == _play_end_day_after(streams)
    ev = evaluation_summary(late_paths)
    assert ev.t_eval == t and ev.last_ts_end == streams["ts_end"].max()
    assert ev.n_streams == len(streams)
    assert ev.n_logged_after == int((streams["ts_end"] >= t).sum()) >= n_late


def test_shard_summaries_combine_to_the_all_streams_results(shards, tmp_path):
    cfg, _, paths = shards
    params = PreferenceParams.from_config(cfg)
    streams = read_shards(paths, columns=list(stage.STREAM_COLUMNS))
    t = stage.evaluation_time(streams)
    rng = np.random.default_rng(1)
    items = streams["item_uri"].dropna().unique()
    taste = (items, rng.dirichlet(np.ones(4), items.size))
    dirs = []
    for i, p in enumerate(paths):
        one = read_shards([p], columns=list(stage.STREAM_COLUMNS))
        dirs.append(tmp_path / f"shard_{i:03d}")
        write_shard_features(shard_features(one, t, params, taste), dirs[-1], params)
    feats = read_shard_features(dirs, params)

    # per-user tables: identical to the computation on all streams (as written to Parquet)
    def stored(frame: pd.DataFrame) -> pd.DataFrame:
        return pa.Table.from_pandas(frame, preserve_index=False).to_pandas()

    pd.testing.assert_frame_equal(
        stored(feats.user_windows), stored(stage.user_windows(streams, t, params, taste))
    )
    pd.testing.assert_frame_equal(
        stored(feats.descriptors), stored(stage.descriptors_table(streams, t, params, taste))
    )
    assert len(feats.user_windows) == SIM["n_users"]
    # profiles: same shrinkage strengths and the same numbers
    static_a, context_a = stage.estimate_profiles(streams, t, params)
    static_b, context_b = profiles_from_shards(feats, params)
    assert static_a.keys() == static_b.keys()
    for k in static_a:
        pd.testing.assert_frame_equal(static_a[k], static_b[k])
    for k in context_a:
        a, b = context_a[k], context_b[k]
        assert a.users.equals(b.users)
        assert a.alpha_user == b.alpha_user and a.alpha_context == b.alpha_context
        np.testing.assert_array_equal(a.cells(), b.cells())
        np.testing.assert_allclose(a.cells().sum(axis=-1), 1.0)


def test_participant_streams_reads_one_person(shards):
    _, _, paths = shards
    streams = read_shards(paths, columns=["participant_id", "ts_start", "content_type"])
    pid = streams["participant_id"].iloc[len(streams) // 2]
    got = participant_streams(paths, pid, columns=["participant_id", "ts_start", "content_type"])
    want = streams[streams["participant_id"] == pid].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want)
    assert participant_streams(paths, "nobody", columns=["participant_id"]).empty


def test_a_shard_with_no_stream_in_a_window_gives_empty_counts(shards, tmp_path):
    """t_eval is the study's: a shard whose users all stopped earlier has empty short windows."""
    cfg, _, paths = shards
    params = PreferenceParams.from_config(cfg)
    one = read_shards(paths[:1], columns=list(stage.STREAM_COLUMNS))
    late = evaluation_time_of_shards(paths) + pd.Timedelta(days=30)
    feats = shard_features(one, late, params)
    assert len(feats.counts["7d"].users) == 0
    write_shard_features(feats, tmp_path / "shard_000", params)
    back = read_shard_features([tmp_path / "shard_000"], params)
    assert len(back.counts["7d"].users) == 0 and back.counts["7d"].folds.shape[0] == 0
    assert len(back.counts["90d"].users) == len(back.user_windows)
    assert np.isnan(back.user_windows["music_7d"]).all()


def test_a_shard_without_users_and_the_rule_stride_agree(shards, tmp_path):
    """More shards than users leaves a shard empty: its summaries are empty and combine."""
    import re
    from pathlib import Path

    from prefcal.preferences.stage import CONTEXT0_USERS, context0_stride

    cfg, _, paths = shards
    params = PreferenceParams.from_config(cfg)
    t = evaluation_time_of_shards(paths)
    one = read_shards(paths[:1], columns=list(stage.STREAM_COLUMNS))
    write_shard_features(shard_features(one, t, params), tmp_path / "a", params)
    write_shard_features(shard_features(one.iloc[:0], t, params), tmp_path / "b", params)
    both = read_shard_features([tmp_path / "a", tmp_path / "b"], params)
    alone = read_shard_features([tmp_path / "a"], params)
    pd.testing.assert_frame_equal(both.user_windows, alone.user_windows, check_dtype=False)
    np.testing.assert_array_equal(both.counts["90d"].folds, alone.counts["90d"].folds)
    # the workflow's copy of the no-context stride (preferences.smk) matches the package's
    smk = (Path(__file__).parents[1] / "workflow/rules/preferences.smk").read_text()
    assert re.search(r'n_users"\]\s*//\s*250\)', smk) and CONTEXT0_USERS == 250
    assert [context0_stride(n) for n in (1, 250, 251, 1000)] == [1, 1, 2, 4]
