"""Stage 04 end to end on a tiny population: tables, determinism, sensitivity, CLI, macros."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_home_helpers import tiny_config, tiny_env, tiny_streams

from prefcal.evaluation import report
from prefcal.evaluation.pipeline import run_stage
from prefcal.evaluation.policyset import eval_settings
from prefcal.evaluation.sensitivity import run_sensitivity
from prefcal.home.cli import stage_config
from prefcal.home.logging import simulate_home_data
from prefcal.paper.macros import render_macros
from prefcal.paper.tables import write_csv


def _stage(n: int = 8):
    env = tiny_env(n=n)
    streams = tiny_streams(env)
    log, profiles = simulate_home_data(env, streams)
    ab, _ = simulate_home_data(env, streams, period="ab")
    es = eval_settings(tiny_config())
    return env, es, run_stage(env, log, ab, profiles.counts.sum(axis=0), env.settings, es)


@pytest.fixture(scope="module")
def stage():
    return _stage()


def test_stage_tables(stage) -> None:
    env, es, res = stage
    policies = set(res.accuracy["policy"])
    assert {
        "CB",
        "CB-UCB",
        "CB-TS",
        "CB-MO",
        "SC-7",
        "SC-90",
        "MB",
        "MB-90",
        "Popularity",
        "Single-feature",
        "Logging",
    } == policies
    acc = res.accuracy
    assert acc["value"].between(0, 1).all()
    sc = acc[acc.policy == "SC-90"]
    assert np.allclose(sc["lift"], 0.0)
    assert set(res.table1["baseline"]) == {"SC-7", "SC-90", "MB", "MB-90", "Popularity"}
    assert (res.table1["lower"] <= res.table1["lift"] + 1e-12).all()
    assert res.table1.loc[res.table1.baseline == "SC-90", "paper"].notna().sum() == 2
    ab = res.ab
    assert set(ab["metric"]) == {"podcast_i2s", "overall_i2s", "consumption", "home_activity"}
    assert np.allclose(ab.loc[ab.policy == "SC-90", "true_lift"], 0.0)
    assert len(res.ope) == 11 * 7
    assert res.counts["log_requests"] == env.params.n * env.settings.requests_per_user


def test_same_seed_same_bytes(stage, tmp_path) -> None:
    _, _, res = stage
    _, _, again = _stage()
    for name in ("accuracy", "table1", "ab", "ope"):
        a, b = tmp_path / f"{name}_a.csv", tmp_path / f"{name}_b.csv"
        write_csv(getattr(res, name), a)
        write_csv(getattr(again, name), b)
        assert a.read_bytes() == b.read_bytes(), name


def test_report_frames_and_macros(stage) -> None:
    env, es, res = stage
    t1, t1_tex = report.table1_frames(res.table1)
    assert len(t1) == len(t1_tex) == 5
    t2, t2_tex = report.ab_frames(res.ab, res.ope)
    assert len(t2_tex) == len(t2) == 12  # 11 policies and the paper's row
    macros = report.stage_macros(res, None, env.settings, es)
    text = render_macros(macros)
    assert "\\newcommand{\\CBvsSCNinetyPodcastLift}" in text
    assert "\\newcommand{\\OPEDRMaxError}" in text


def test_sensitivity_runs() -> None:
    env = tiny_env(n=8)
    streams = tiny_streams(env)
    es = eval_settings(tiny_config())
    df = run_sensitivity(env, streams, es)
    assert set(df["parameter"]) == {
        "context_strength",
        "epsilon",
        "lam",
        "arm_step",
        "slate_size",
        "examination_decay",
    }
    assert len(df) == 8 * 3
    assert df["acc_oracle"].between(0, 1).all()
    assert (df["oracle_lower"] <= df["oracle_lift"] + 1e-12).all()
    fig = report.sensitivity_figure(df)
    assert len(fig.axes) == 6
    # runs with the config's values are identical (run once, reused)
    base = df[(df.parameter != "context_strength") & df.is_config_value]
    assert base.groupby("metric")["lift"].nunique().eq(1).all()


def test_stage_config_validates_sections() -> None:
    cfg = tiny_config()
    cfg = {k: v for k, v in cfg.items() if k != "analysis"}
    cfg["simulation"] = {"days": 60, "start_date": "2026-01-05"}
    with pytest.raises(ValueError, match="simulation"):
        stage_config(None, json.dumps(cfg), ("seed", "simulation", "home"))
    with pytest.raises(ValueError, match="config key simulation: missing"):
        stage_config(None, json.dumps({"seed": 1}), ("seed", "simulation", "home"))


def test_cli_log_writes_the_tables(tmp_path) -> None:
    from prefcal.cli import main
    from prefcal.config import load_config

    cfg = load_config("config/config.yaml", "config/smoke.yaml")
    env = tiny_env(n=3)
    # write a truth shard and catalogue the CLI can read
    import pyarrow.parquet as pq

    truth = tmp_path / "truth"
    (truth / "users").mkdir(parents=True)
    pq.write_table(env.params.to_table(), truth / "users" / "users.parquet")
    streams = tiny_streams(env)
    streams.to_parquet(tmp_path / "streams.parquet")
    sections = {k: cfg[k] for k in ("seed", "simulation", "analysis", "ingest")}
    sections["seed"] = 7
    sections["simulation"] = {**cfg["simulation"], "days": 60}
    sections["home"] = tiny_config()["home"]
    with pytest.raises(SystemExit):
        main(["home", "log", "--help"])
    status = main(
        [
            "home",
            "log",
            "--config-json",
            json.dumps(sections),
            "--catalogue",
            str(tmp_path / "no_catalogue"),
            "--truth-users",
            str(truth / "users"),
            "--streams",
            str(tmp_path / "streams.parquet"),
            "--out",
            str(tmp_path / "home"),
        ]
    )
    assert status == 2  # a missing catalogue is a clear error, not a traceback
    assert not (tmp_path / "home").exists()
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "streams.parquet"), streams)


def test_sensitivity_reads_only_its_subsample() -> None:
    """The runs use the streams of ``sensitivity_participants`` only: the same table whether the
    other users' streams are passed or not (so the CLI reads just these)."""
    import dataclasses

    from prefcal.evaluation.sensitivity import sensitivity_participants, subsample_users
    from prefcal.home.logging import participant_ids

    env = tiny_env(n=8)
    streams = tiny_streams(env)
    es = dataclasses.replace(eval_settings(tiny_config()), sens_n_users=5)
    keep = sensitivity_participants(env, es)
    rows = subsample_users(env, 5)
    assert len(keep) == 5 == len(set(keep))
    assert keep == participant_ids(env.params.user_index, env.settings.seed)[rows].tolist()
    only = streams[streams["participant_id"].isin(keep)].reset_index(drop=True)
    assert 0 < len(only) < len(streams)
    pd.testing.assert_frame_equal(run_sensitivity(env, streams, es), run_sensitivity(env, only, es))


def test_stage_shard_by_shard_equals_one_piece(tmp_path) -> None:
    """Fit once, evaluate two user shards separately, combine: the same tables as the stage on
    all requests in one piece (up to the summation order of floats), and the ceiling table of
    :func:`prefcal.evaluation.oracle.ceiling_table`."""
    from prefcal.evaluation.oracle import ceiling_table
    from prefcal.evaluation.shards import (
        FittedStage,
        ShardEvaluation,
        combine,
        evaluate_shard,
        fit_stage,
    )

    env = tiny_env(n=8)
    streams = tiny_streams(env)
    log, profiles = simulate_home_data(env, streams)
    ab, _ = simulate_home_data(env, streams, period="ab")
    es, hs, pop = eval_settings(tiny_config()), env.settings, profiles.counts.sum(axis=0)
    whole = run_stage(env, log, ab, pop, hs, es)

    fitted = fit_stage(log.take(np.flatnonzero(~log.test)), pop, hs, es, env.examination)
    fitted.save(tmp_path / "fitted.pkl")
    fitted = FittedStage.load(tmp_path / "fitted.pkl")
    users = np.unique(log.participant_id)
    dirs = []
    for i, part in enumerate((users[1::2], users[::2])):  # shard order differs from id order
        rl = np.flatnonzero(np.isin(log.participant_id, part))
        ra = np.flatnonzero(np.isin(ab.participant_id, part))
        ev = evaluate_shard(env, log.take(rl), ab.take(ra), fitted, hs, es)
        ev.write(tmp_path / f"shard_{i}")
        dirs.append(tmp_path / f"shard_{i}")
    split = combine(ShardEvaluation.read(dirs), hs, es, fitted)

    assert split.counts == whole.counts
    assert whole.counts["fit_users"] == 8
    for name in ("accuracy", "table1", "ab", "ope", "ceiling", "intent_bands"):
        a, b = getattr(whole, name), getattr(split, name)
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12, atol=1e-15)
    ref = ceiling_table(env, log, pop, hs, es, hs.seed)
    pd.testing.assert_frame_equal(ref, whole.ceiling, check_exact=False, rtol=1e-12)


def test_fit_participants_is_a_seeded_subset() -> None:
    from prefcal.evaluation.shards import fit_participants

    ids = [f"p{i:03d}" for i in range(50)]
    assert list(fit_participants(ids[::-1], 60, 1)) == ids  # all, sorted
    a = fit_participants(ids, 10, 1)
    assert len(a) == 10 and list(a) == sorted(set(a)) and set(a) <= set(ids)
    assert list(fit_participants(ids[::-1], 10, 1)) == list(a)  # order of the input is irrelevant
    assert list(fit_participants(ids, 10, 2)) != list(a)
    with pytest.raises(ValueError, match="fit_max_users"):
        fit_participants(ids, 0, 1)
