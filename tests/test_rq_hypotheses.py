"""prefcal.rq.hypotheses, mixed, settings: H1-H6 on simulated studies with known truth."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from prefcal.config import load_config
from prefcal.rq.hypotheses import (
    HYPOTHESES,
    RESULT_COLUMNS,
    analyse,
    h1_own_vs_other,
    h6_taste_extension,
)
from prefcal.rq.mixed import random_intercept_fit
from prefcal.rq.settings import RQSettings
from prefcal.rq.synthetic import SyntheticConfig, simulate_snapshots

CFG = replace(SyntheticConfig(), n_users=60, snapshots_per_user=8)
FAST = RQSettings(seed=7, n_permutations=199, n_bootstrap=199)


@pytest.fixture(scope="module")
def aligned():
    return simulate_snapshots(CFG, "context", 0.9, 21).data


def test_analyse_table_shape_bh_and_determinism(aligned):
    taste = simulate_snapshots(CFG.with_types(("c0", "c1", "c2", "c3")), "context", 0.9, 22).data
    tables = {"content": aligned, "taste": taste.to_frame()}
    res = analyse(tables, FAST, attribution=True)
    r = res.results
    assert list(r.columns) == RESULT_COLUMNS
    assert r["hypothesis"].tolist() == [*HYPOTHESES, *HYPOTHESES[:5]]
    assert r["dimension"].tolist() == ["content"] * 6 + ["taste"] * 5
    assert (r["ci_low"] <= r["estimate"]).all() and (r["estimate"] <= r["ci_high"]).all()
    assert (r["p_bh"] >= r["p_value"]).all() and (r["n_users"] == 60).all()
    # a recommender following the context profile: own history closer than others' (H1), and the
    # context target closer than the static 90-day one (H5), in both dimensions
    for dim in ("content", "taste"):
        row = r.set_index(["dimension", "hypothesis"])
        assert row.loc[(dim, "H1"), "reject"] and row.loc[(dim, "H1"), "estimate"] > 0
        assert row.loc[(dim, "H5"), "reject"] and row.loc[(dim, "H5"), "estimate"] > 0
    assert {"mixed_lm: d ~ 1 + (1|user)", "sign_flip"} <= set(res.details["method"])
    assert set(res.attribution) == {"content", "taste"}
    assert res.attribution["content"].set_index("target")["ll_per_item"].idxmax() == "context"
    again = analyse(tables, FAST, attribution=True)
    pd.testing.assert_frame_equal(res.results, again.results)


def test_h1_null_recommender_not_significant_and_estimate_near_zero():
    data = simulate_snapshots(replace(CFG, n_users=120), "none", 0.0, 4).data
    res = h1_own_vs_other(data, 499, 499, np.random.default_rng(0))
    assert res.ci_low < 0 < res.ci_high
    assert res.p_value > 0.05


def test_h6_effect_is_cluster_minus_item_overlap(aligned):
    res = h6_taste_extension(aligned, 99, 99, np.random.default_rng(0))
    per_user = (
        pd.DataFrame(
            {
                "u": aligned.user,
                "d": aligned.extras["cluster_overlap"] - aligned.extras["item_overlap"],
            }
        )
        .groupby("u")["d"]
        .mean()
    )
    assert res.estimate == pytest.approx(per_user.mean())


def test_mixed_model_recovers_fixed_effects():
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(80), 15)
    z = rng.normal(size=80)
    y = 0.2 + 0.5 * z[g] + rng.normal(0, 0.3, 80)[g] + rng.normal(0, 0.5, g.size)
    fit = random_intercept_fit(y, z[g], g, names=["z"])
    est = fit.fixed.set_index("term")
    assert est.loc["intercept", "ci_low"] < 0.2 < est.loc["intercept", "ci_high"]
    assert est.loc["z", "ci_low"] < 0.5 < est.loc["z", "ci_high"]
    assert fit.group_var == pytest.approx(0.09, abs=0.05) and fit.n_groups == 80


def test_settings_from_default_config(repo_root):
    s = RQSettings.from_config(load_config(repo_root / "config" / "config.yaml"))
    assert s.n_permutations == 2000 and s.n_bootstrap == 2000 and s.fdr == 0.05
    assert s.null_study.n_replications >= 200
    assert min(s.power.n_users) == 5 and max(s.power.n_users) == 500
    assert s.taste_config().types[0] == "c0" and s.null_config().n_users == s.null_study.n_users
