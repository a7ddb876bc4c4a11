"""Stage 05 shard by shard (prefcal.rq.shards, subsample, the factored H1, the capped mixed
models and Home-log validation): shard-wise results equal the all-at-once ones on tiny studies."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prefcal.cli import main as cli_main
from prefcal.home.known_policies import read_logged_requests
from prefcal.rq.contract import snapshot_data
from prefcal.rq.divergence import cross_js_factors, cross_js_matrix
from prefcal.rq.home_validation import read_validation_requests, validation_users
from prefcal.rq.hypotheses import h1_own_vs_other, mixed_subsample, run_hypotheses
from prefcal.rq.mixed import random_intercept_fit
from prefcal.rq.resampling import (
    assignment_permutation_test,
    assignment_permutation_test_factored,
    factored_row_own,
)
from prefcal.rq.settings import RQSettings
from prefcal.rq.shards import (
    SHARD_FILES,
    PopulationCounts,
    read_rq_data,
    read_rq_snapshots,
    shard_plays,
    write_shard_summary,
)
from prefcal.rq.snapshots import read_shard_snapshots
from prefcal.rq.subsample import user_subsample
from prefcal.rq.synthetic import SyntheticConfig, simulate_snapshots

TYPES = ["music", "podcast", "audiobook"]
DAY = 86_400_000
T0 = pd.Timestamp("2026-03-01", tz="UTC")
J = 6  # candidates per logged request (fixed-size list column)


def _user_tables(pid: str, rng: np.random.Generator) -> dict[str, pd.DataFrame]:
    """One participant's Home tables and streams: 4 requests of 3 slots, 40 plays over 100 days."""
    n_req, n_play = 4, 40
    ts = T0 + pd.to_timedelta(np.sort(rng.integers(0, 20 * DAY, n_req)), unit="ms")
    rid = [f"{pid}-L{i:04d}" for i in range(n_req)]
    hr = rng.dirichlet(np.ones(3), n_req)
    req = pd.DataFrame(
        {
            "request_id": rid,
            "participant_id": pid,
            "ts": pd.Series(ts).astype("datetime64[ms, UTC]"),
            "arm": rng.integers(0, 3, n_req),
            **{f"x_hr_{t}": hr[:, g] for g, t in enumerate(TYPES)},
            **{f"x_s{w}_{t}": np.full(n_req, 1 / 3) for w in (7, 90) for t in TYPES},
        }
    )
    req["cand_relevance"] = list(rng.random((n_req, J)))
    imp = pd.DataFrame({"request_id": np.repeat(rid, 3), "item_type": rng.choice(TYPES, 3 * n_req)})
    end = T0 + pd.to_timedelta(rng.integers(-100 * DAY, 20 * DAY, n_play), unit="ms")
    streams = pd.DataFrame(
        {
            "participant_id": pid,
            "ts_end": pd.Series(end).astype("datetime64[ms, UTC]"),
            "ms_played": rng.choice([10_000, 60_000, 200_000], n_play),
            "content_type": rng.choice([*TYPES, "video"], n_play, p=[0.5, 0.3, 0.15, 0.05]),
        }
    )
    parts = pd.DataFrame(
        {"participant_id": [pid], **{f"n_{t}": [int(rng.integers(0, 50))] for t in TYPES}}
    )
    return {"req": req, "imp": imp, "streams": streams, "parts": parts}


def _write_study(root: Path, shards: list[list[str]], seed: int = 3) -> list[str]:
    """The same users split into ``shards`` (lists of participant ids) under ``root``."""
    names = []
    for k, users in enumerate(shards):
        tabs = [_user_tables(u, np.random.default_rng([seed, int(u[1:])])) for u in users]
        cat = {key: pd.concat([t[key] for t in tabs], ignore_index=True) for key in tabs[0]}
        name = f"{k:03d}"
        home, data = root / "home" / f"shard_{name}", root / "data" / f"shard_{name}"
        home.mkdir(parents=True)
        data.mkdir(parents=True)
        req = pa.Table.from_pandas(cat["req"].drop(columns="cand_relevance"), preserve_index=False)
        rel = pa.FixedSizeListArray.from_arrays(
            pa.array(np.concatenate(cat["req"]["cand_relevance"].to_list())), J
        )
        pq.write_table(req.append_column("cand_relevance", rel), home / "log_requests.parquet")
        cat["imp"].to_parquet(home / "impressions.parquet", index=False)
        cat["parts"].to_parquet(home / "participants.parquet", index=False)
        cat["streams"].to_parquet(data / "streams.parquet", index=False)
        names.append(name)
    return names


USERS = [f"P{i:02d}" for i in range(1, 10)]


@pytest.fixture(scope="module")
def studies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, list[str]]]:
    out = {}
    for label, split in (("one", [USERS]), ("two", [USERS[::2], USERS[1::2]])):
        root = tmp_path_factory.mktemp(label)
        shards = _write_study(root, split)
        for s in shards:
            write_shard_summary(
                root / "home" / f"shard_{s}",
                root / "data" / f"shard_{s}" / "streams.parquet",
                root / "rq" / f"shard_{s}",
            )
        out[label] = (root, shards)
    return out


def test_shard_summaries_equal_the_all_at_once_table(studies) -> None:
    for root, shards in studies.values():
        old = read_shard_snapshots(root / "home", root / "data", shards)
        new = read_rq_snapshots(root / "rq", shards)
        pd.testing.assert_frame_equal(old, new, check_exact=True)
        assert new["popularity__music"].notna().any()


def test_one_or_two_shards_give_the_same_snapshots(studies) -> None:
    a = snapshot_data(read_rq_snapshots(studies["one"][0] / "rq", studies["one"][1]))
    b = snapshot_data(read_rq_snapshots(studies["two"][0] / "rq", studies["two"][1]))
    np.testing.assert_array_equal(a.participant_ids, b.participant_ids)
    np.testing.assert_array_equal(a.snapshot_id, b.snapshot_id)
    np.testing.assert_array_equal(a.counts, b.counts)
    for name in a.targets:
        np.testing.assert_array_equal(a.targets[name], b.targets[name])


def _assert_same_data(a, b) -> None:
    """Two SnapshotData with the same arrays, to the bit."""
    assert a.types == b.types
    for name in ("participant_ids", "user", "snapshot_id", "time", "counts"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.shape == y.shape and (x.dtype == y.dtype or name == "snapshot_id"), name
        assert x.tolist() == y.tolist(), name
    assert a.targets.keys() == b.targets.keys() and a.extras.keys() == b.extras.keys()
    for name in a.targets:
        assert a.targets[name].tobytes() == b.targets[name].tobytes(), name


def test_read_rq_data_is_the_validated_table_to_the_bit(studies) -> None:
    for root, shards in studies.values():
        old = snapshot_data(read_rq_snapshots(root / "rq", shards))
        new = read_rq_data(root / "rq", shards)
        _assert_same_data(new, old)
        assert new.n_users == len(USERS) and new.n_snapshots == 4 * len(USERS)
        assert np.isfinite(new.targets["popularity"]).all(axis=1).any()
    _assert_same_data(
        read_rq_data(studies["one"][0] / "rq", studies["one"][1]),
        read_rq_data(studies["two"][0] / "rq", studies["two"][1]),
    )


def test_read_rq_data_rejects_a_participant_in_two_shards(studies, tmp_path: Path) -> None:
    root, shards = studies["two"]
    for s in shards:  # every shard = shard 000 again
        src = root / "rq" / f"shard_{shards[0]}"
        dst = tmp_path / "rq" / f"shard_{s}"
        dst.mkdir(parents=True)
        for name in SHARD_FILES:
            (dst / name).write_bytes((src / name).read_bytes())
    with pytest.raises(ValueError, match="is in two shards"):
        read_rq_data(tmp_path / "rq", shards)


def test_cli_writes_the_shard_files(studies, tmp_path: Path) -> None:
    root, shards = studies["two"]
    s = shards[1]
    status = cli_main(
        [
            "rq",
            "snapshots",
            "--config-json",
            '{"ingest": {"min_ms_played": 30000}}',
            "--home",
            str(root / "home" / f"shard_{s}"),
            "--streams",
            str(root / "data" / f"shard_{s}" / "streams.parquet"),
            "--out",
            str(tmp_path / f"shard_{s}"),
        ]
    )
    assert status == 0
    for name in SHARD_FILES:
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / f"shard_{s}" / name),
            pd.read_parquet(root / "rq" / f"shard_{s}" / name),
        )
    totals = pd.read_parquet(tmp_path / f"shard_{s}" / "type_totals.parquet")
    parts = pd.read_parquet(root / "home" / f"shard_{s}" / "participants.parquet")
    assert totals["n_music"].iloc[0] == parts["n_music"].sum()


def test_population_counts_known_answer_and_half_open_window() -> None:
    streams = pd.DataFrame(
        {
            "ts_end": pd.to_datetime([0, DAY, 2 * DAY, DAY], unit="ms", utc=True).astype(
                "datetime64[ms, UTC]"
            ),
            "ms_played": [60_000, 60_000, 60_000, 5_000],
            "content_type": ["music", "podcast", "podcast", "music"],
        }
    )
    plays = shard_plays(streams)
    assert plays["ts_ms"].tolist() == [0, DAY, 2 * DAY]  # the 5 s play does not count
    pop = PopulationCounts(np.array([2 * DAY, 10 * DAY]), days=2)
    pop.add(plays.iloc[:2])  # two "shards"
    pop.add(plays.iloc[2:])
    np.testing.assert_array_equal(pop.counts, [[1, 1, 0], [0, 0, 0]])
    shares = pop.shares()
    np.testing.assert_allclose(shares[0], [0.5, 0.5, 0.0])
    assert np.isnan(shares[1]).all()


def test_user_subsample_rule_on_ids() -> None:
    ids = [f"P{i:03d}" for i in range(50)]
    assert user_subsample(ids[::-1] + ids[:5], 100, 1, 62).tolist() == ids  # all, sorted
    a = user_subsample(ids, 10, 1, 62)
    assert a.size == 10 and np.all(a[:-1] < a[1:]) and set(a) <= set(ids)
    np.testing.assert_array_equal(a, user_subsample(ids[::-1], 10, 1, 62))  # order-free
    assert not np.array_equal(a, user_subsample(ids, 10, 1, 63))  # own stream per use


def test_factored_h1_equals_the_matrix() -> None:
    cfg = replace(SyntheticConfig(), n_users=40, snapshots_per_user=6, slate_size=(4, 6))
    data = simulate_snapshots(cfg, "hist_90", 0.6, 5).data
    pbar = np.stack([data.targets["hist_90"][data.user == u].mean(axis=0) for u in range(40)])
    w, j = cross_js_factors(data.counts, data.user, data.n_users, pbar)
    d = cross_js_matrix(data.counts, data.user, data.n_users, pbar)
    row, own = factored_row_own(w, j, block_elements=7 * 40)  # several blocks of rows
    np.testing.assert_array_equal(row, d.sum(axis=1))
    np.testing.assert_array_equal(own, np.diag(d))
    full = assignment_permutation_test(d, 99, np.random.default_rng(4))
    fact = assignment_permutation_test_factored(
        w, j, 99, np.random.default_rng(4), block_elements=3 * 40
    )
    assert fact.statistic == full.statistic and fact.p_value == full.p_value
    np.testing.assert_allclose(fact.null, full.null, rtol=0, atol=1e-15)
    for mx in (0, 10**9):  # the whole H1 row and its details: factors vs matrix
        res = h1_own_vs_other(data, 99, 99, np.random.default_rng(8), max_matrix_elements=mx)
        if mx == 0:
            factored = res
    assert res.row() == factored.row() and res.details == factored.details


def test_mixed_models_on_a_user_subsample() -> None:
    cfg = replace(SyntheticConfig(), n_users=30, snapshots_per_user=6)
    data = simulate_snapshots(cfg, "hist_7", 0.7, 9).data
    settings = RQSettings(seed=2, n_permutations=49, n_bootstrap=49, mixed_max_users=12)
    assert mixed_subsample(data, 30, 2) is None
    users = mixed_subsample(data, 12, 2)
    assert users.size == 12
    np.testing.assert_array_equal(
        data.participant_ids[users], user_subsample(data.participant_ids, 12, 2, 62)
    )
    capped, det = run_hypotheses(data, settings, "content", ("H3",))
    full, _ = run_hypotheses(data, replace(settings, mixed_max_users=100), "content", ("H3",))
    # the effect and its CI use every user; the p-value is the mixed model of the subsample
    assert capped.loc[0, "estimate"] == full.loc[0, "estimate"]
    assert "subsample of 12 users" in capped.loc[0, "note"]
    from prefcal.rq.divergence import js_rows

    diff = js_rows(data.counts, data.targets["hist_90"]) - js_rows(
        data.counts, data.targets["hist_7"]
    )
    rows = np.isin(data.user, users)
    fit = random_intercept_fit(diff[rows], None, data.user[rows])
    assert capped.loc[0, "p_value"] == float(fit.fixed.loc[0, "p_value"])
    assert int(det.loc[det["term"] == "intercept", "n_users"].iloc[0]) == fit.n_groups


def test_validation_requests_of_a_subsample(studies) -> None:
    root, shards = studies["two"]
    full = read_logged_requests(root / "home", shards)
    assert validation_users(USERS, 20, 0) is None
    keep = validation_users(USERS, 4, 0)
    assert keep.size == 4
    sub = read_validation_requests(root / "home", shards, keep)
    rows = np.isin(full.participant_id.astype(str), keep)
    np.testing.assert_array_equal(sub.request_id, full.request_id[rows])
    np.testing.assert_array_equal(sub.relevance, full.relevance[rows])
    np.testing.assert_array_equal(sub.context, full.context[rows])
    np.testing.assert_array_equal(sub.arm, full.arm[rows])
    for w in (7, 90):
        np.testing.assert_array_equal(sub.shares[w], full.shares[w][rows])
