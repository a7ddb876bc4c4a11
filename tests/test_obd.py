"""The Open Bandit Dataset check: BTS's click rate estimated from the uniform-random logs."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from prefcal import obd

ESTIMATORS = {"dm", "ipw", "snipw", "dr", "sndr", "switch_dr", "dr_os", "pbm_ipw", "random_mean"}


def test_data_is_in_the_repository_with_its_licence() -> None:
    assert obd.OBD_DIR.is_relative_to(obd.REPO_ROOT)
    for policy in ("random_all", "bts_all"):
        assert (obd.OBD_DIR / policy / "all.csv").exists()
    readme = (obd.OBD_DIR / "README.md").read_text()
    assert "CC BY 4.0" in readme and "ZOZO" in readme


def test_loaded_logs_match_the_documented_sample() -> None:
    random_log = obd.load_obd("random")
    bts_log = obd.load_obd("bts")
    assert random_log.reward.size == bts_log.reward.size == 10_000
    assert random_log.reward.mean() == pytest.approx(0.0038)
    assert bts_log.reward.mean() == pytest.approx(0.0042)
    np.testing.assert_allclose(random_log.pscore, 1 / 80)
    assert set(np.unique(random_log.position)) == {0, 1, 2}
    pi = obd.bts_action_dist(bts_log)
    assert pi.shape == (80, 3)
    np.testing.assert_allclose(pi.sum(axis=0), 1.0)


def test_cross_fitted_rates_never_see_their_own_row() -> None:
    log = obd.load_obd("random")
    q = obd.cross_fitted_rates(log, n_folds=3, prior_strength=50.0, random_state=0)
    assert q.shape == (10_000, 80, 3)
    assert np.all((q > 0) & (q < 1))
    # a clicked row's own cell is fitted without that click: rows of one fold share a model
    fold = np.random.default_rng(0).permutation(10_000) % 3
    clicked = np.flatnonzero(log.reward == 1)
    for i in clicked[:5]:
        same = np.flatnonzero(fold == fold[i])[:2]
        np.testing.assert_array_equal(q[same[0]], q[same[1]])


def test_check_table() -> None:
    table = obd.obd_check(n_boot=200, random_state=0)
    assert set(table["estimator"]) == ESTIMATORS
    assert list(table.columns) == [
        "estimator",
        "estimate",
        "ci_lower",
        "ci_upper",
        "truth",
        "relative_error",
    ]
    assert np.all(np.isfinite(table[["estimate", "ci_lower", "ci_upper", "relative_error"]]))
    np.testing.assert_allclose(table["truth"], 0.0042)
    row = table.set_index("estimator")
    assert row.loc["random_mean", "estimate"] == pytest.approx(0.0038)
    assert row.loc["random_mean", "relative_error"] == pytest.approx(abs(0.0038 - 0.0042) / 0.0042)
    # IPW is an unbiased estimate from 38 clicks: the truth lies inside its bootstrap interval
    assert row.loc["ipw", "ci_lower"] < 0.0042 < row.loc["ipw", "ci_upper"]
    assert np.all(table["ci_lower"] <= table["estimate"])
    assert np.all(table["estimate"] <= table["ci_upper"])
    # deterministic for a seed
    again = obd.obd_check(n_boot=200, random_state=0)
    assert again.equals(table)


def test_bad_files_are_named(tmp_path: Path) -> None:
    for policy in ("random_all", "bts_all"):
        shutil.copytree(obd.OBD_DIR / policy, tmp_path / policy)
    path = tmp_path / "bts_all" / "all.csv"
    lines = path.read_text().splitlines()
    fields = lines[3].split(",")
    fields[3] = "7"  # position 7 in data row 3
    lines[3] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"all\.csv: data row 3, field position: 7"):
        obd.load_obd("bts", tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        obd.load_obd("random", tmp_path / "nowhere")
    with pytest.raises(ValueError, match="policy"):
        obd.load_obd("greedy")
