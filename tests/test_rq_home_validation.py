"""prefcal.home.known_policies and prefcal.rq.home_validation: known policies served on logged
requests (same slate builder), user resampling, identifiability groups, and a small confusion."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prefcal.config import load_config
from prefcal.home.known_policies import (
    LoggedRequests,
    arm_type_counts,
    greedy_arms,
    serve_arms,
)
from prefcal.home.settings import home_settings
from prefcal.policies import simplex_grid, steck_greedy
from prefcal.rq.contract import TARGETS, SnapshotData
from prefcal.rq.home_validation import (
    KnownPolicyStudies,
    home_attribution_confusion,
    identical_groups,
    resample_users,
)

HS = home_settings(load_config("config/config.yaml"))  # K = 6, 21 arms, lam 0.5, eps 0.5
K, G = HS.slate_size, HS.n_types


def _relevance(rng: np.random.Generator, n: int) -> np.ndarray:
    rel = rng.normal(1.0, 0.3, (n, G * K)) + np.repeat([0.3, 0.0, 0.1], K)
    return -np.sort(-rel.reshape(n, G, K), axis=2).reshape(n, G * K)  # best first per type


def test_arm_type_counts_match_the_single_request_builder():
    rng = np.random.default_rng(0)
    rel = _relevance(rng, 7)
    counts = arm_type_counts(rel, HS, chunk=3)
    arms = simplex_grid(G, HS.arm_step)
    assert counts.shape == (7, arms.shape[0], G)
    assert (counts.sum(axis=2) == K).all()
    types = np.repeat(np.arange(G), K)
    for i in range(7):
        for a in (0, 5, 20):
            slate = steck_greedy(rel[i], types, arms[a], K, HS.lam, HS.alpha)
            np.testing.assert_array_equal(counts[i, a], np.bincount(types[slate], minlength=G))
    with pytest.raises(ValueError, match="slate_size"):
        arm_type_counts(rel[:, :10], HS)


def test_serve_arms_epsilon_greedy():
    greedy = greedy_arms(np.array([[1.0, 0.0, 0.0], [0.1, 0.75, 0.15]] * 500), HS)
    assert greedy[0] == 0 and simplex_grid(G, HS.arm_step)[greedy[1]].tolist() == pytest.approx(
        [0.0, 0.8, 0.2]
    )
    u = np.random.default_rng(1).random(1000)
    np.testing.assert_array_equal(serve_arms(greedy, HS, 0.0, u), greedy)
    arm = serve_arms(greedy, HS, 0.5, u)
    share = np.mean(arm == greedy)
    assert share == pytest.approx(0.5 + 0.5 / 21, abs=0.04)


def _snapshots(n_users: int, per_user: int, rng: np.random.Generator) -> SnapshotData:
    n = n_users * per_user
    user = np.repeat(np.arange(n_users), per_user)
    theta = rng.dirichlet([1.0, 1.0, 1.0], n_users)
    hist = np.clip(theta[user] + rng.normal(0, 0.03, (n, G)), 1e-3, None)
    hist /= hist.sum(axis=1, keepdims=True)
    ctx = rng.gamma(10 * hist + 0.5)
    ctx /= ctx.sum(axis=1, keepdims=True)
    h7 = rng.gamma(5 * hist + 0.5)
    h7 /= h7.sum(axis=1, keepdims=True)
    fixed = np.broadcast_to([0.75, 0.2, 0.05], (n, G)).copy()
    pop = fixed + np.linspace(-0.001, 0.001, n)[:, None] * np.array([1.0, -1.0, 0.0])
    return SnapshotData(
        participant_ids=np.char.mod("P%04d", np.arange(n_users)).astype(str),
        user=user.astype(np.intp),
        snapshot_id=np.char.mod("S%06d", np.arange(n)).astype(str),
        time=np.datetime64("2026-04-07T00:00", "ms") + np.arange(n).astype("timedelta64[m]"),
        types=("music", "podcast", "audiobook"),
        counts=np.full((n, G), 2.0),
        targets={
            "hist_90": hist,
            "hist_7": h7,
            "context": ctx,
            "global_mix": fixed,
            "popularity": pop,
        },
    )


def test_resample_users_keeps_copies_together():
    data = _snapshots(4, 3, np.random.default_rng(2))
    out = resample_users(data, np.array([2, 0, 2]))
    assert out.participant_ids.tolist() == ["P0000", "P0002"]
    assert out.user.tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 1]
    assert (
        out.snapshot_id.tolist()
        == ["S000000", "S000001", "S000002"]
        + [
            "S000006",
            "S000007",
            "S000008",
        ]
        * 2
    )
    np.testing.assert_array_equal(out.targets["hist_90"][3], data.targets["hist_90"][6])


def test_identical_groups():
    a = np.arange(100) % 3
    groups, agree = identical_groups({"x": a, "y": a.copy(), "z": (a + 1) % 3, "w": a}, 0.99)
    assert groups == (("x", "y", "w"),)
    assert agree.loc["x", "z"] == 0.0 and agree.loc["y", "w"] == 1.0


def test_home_confusion_small_study():
    rng = np.random.default_rng(3)
    data = _snapshots(120, 40, rng)
    n = data.n_snapshots
    logged = LoggedRequests(
        request_id=data.snapshot_id.astype(object),
        participant_id=data.participant_ids[data.user].astype(object),
        relevance=_relevance(rng, n),
        shares={7: data.targets["hist_7"], 90: data.targets["hist_90"]},
        context=data.targets["context"],
        arm=np.zeros(n, dtype=np.int64),
    )
    studies = KnownPolicyStudies(data, logged, HS)
    conf, agree = home_attribution_confusion(studies, 1, seed=11)
    assert conf.matrix.shape == (5, 5) and int(conf.matrix.to_numpy().sum()) == 5
    assert conf.groups == (("global_mix", "popularity"),)  # the same arm for every request
    assert agree.loc["global_mix", "popularity"] == 1.0
    assert conf.accuracy_merged == 1.0
    for p in ("hist_90", "hist_7", "context"):
        assert conf.matrix.loc[p, p] == 1
    # deterministic: the same seed gives the same runs
    again, _ = home_attribution_confusion(studies, 1, seed=11)
    pd.testing.assert_frame_equal(conf.runs, again.runs)
    with pytest.raises(ValueError, match="not a logged request"):
        KnownPolicyStudies(
            data,
            LoggedRequests(
                logged.request_id[:10],
                logged.participant_id[:10],
                logged.relevance[:10],
                {w: s[:10] for w, s in logged.shares.items()},
                logged.context[:10],
                logged.arm[:10],
            ),
            HS,
        )
    assert set(TARGETS) == set(studies.greedy)
