"""Accuracy definitions on hand-made cases and the paired bootstrap lift helper."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prefcal.evaluation.accuracy import accuracy, replay_counts, user_counts
from prefcal.evaluation.lifts import bootstrap_multiplicities, lift_frame, ratio_lift, ratio_lifts

# action ids for K = 2: 0, 1 music; 2, 3 podcast; 4, 5 audiobook
ITEM_TYPE = np.array([0, 0, 1, 1, 2, 2])


def test_accuracy_hand_made() -> None:
    # request 0: streamed music 0 and podcast 3; request 1: streamed podcast 2; request 2: none
    streamed = np.array([[True, True], [False, True], [False, False]])
    slates = np.array([[0, 3], [1, 2], [0, 1]])
    containment = np.array(
        [
            [1, 1, 0, 0, 0, 0],  # policy shows only music: contains music 0, not podcast 3
            [0, 0, 1, 0, 1, 0],  # contains podcast 2
            [1, 1, 0, 0, 0, 0],
        ],
        dtype=float,
    )
    mix = np.array([[0.6, 0.4, 0.0], [0.4, 0.4, 0.2], [1.0, 0.0, 0.0]])
    c = replay_counts(streamed, slates, containment, mix, ITEM_TYPE)
    assert np.array_equal(c["streamed"], [2, 1, 0])
    assert np.array_equal(c["contained"], [1, 1, 0])
    assert np.array_equal(c["podcast_streamed"], [1, 1, 0])
    assert np.array_equal(c["podcast_contained"], [0, 1, 0])
    # request 0: argmax music -> music stream right, podcast wrong; request 1: tie 0.4/0.4 -> music
    assert np.array_equal(c["type_correct"], [1, 0, 0])
    acc = accuracy(c)
    assert acc == {"overall": 2 / 3, "podcast": 1 / 2, "type_level": 1 / 3}


def test_accuracy_of_a_stochastic_policy_is_the_expected_containment() -> None:
    streamed = np.array([[True, False]])
    slates = np.array([[2, 0]])
    containment = np.array([[0.25, 0, 0.75, 0, 0, 0]])
    c = replay_counts(streamed, slates, containment, np.array([[0.2, 0.5, 0.3]]), ITEM_TYPE)
    assert accuracy(c)["overall"] == pytest.approx(0.75)
    assert accuracy(c)["type_level"] == 1.0


def test_replay_counts_reject_bad_ids() -> None:
    with pytest.raises(ValueError, match="action ids"):
        replay_counts(
            np.ones((1, 2), bool), np.array([[0, 9]]), np.zeros((1, 6)), np.ones((1, 3)), ITEM_TYPE
        )


def test_user_counts_sum_per_user() -> None:
    df = user_counts({"a": np.array([1.0, 2.0, 3.0])}, np.array(["P2", "P1", "P2"]))
    assert list(df.index) == ["P1", "P2"]
    assert df["a"].tolist() == [2.0, 4.0]


def test_lift_known_case() -> None:
    rng = np.random.default_rng(0)
    den = rng.integers(1, 20, 50).astype(float)
    num_c = rng.binomial(den.astype(int), 0.3).astype(float) + 1
    li = ratio_lift(2 * num_c, den, num_c, den, n_boot=300, level=0.9, random_state=1)
    assert li.estimate == pytest.approx(1.0)
    assert li.lower == pytest.approx(1.0) and li.upper == pytest.approx(1.0)
    assert li.excludes_zero


def test_lift_bootstrap_matches_a_naive_loop() -> None:
    rng = np.random.default_rng(5)
    u = 30
    num = rng.random((u, 3)) * 10
    den = rng.random((u, 3)) * 20 + 1
    out = ratio_lifts(num, den, control=1, n_boot=200, level=0.8, random_state=9)
    m = bootstrap_multiplicities(u, 200, np.random.default_rng(9))
    reps = np.empty((200, 3))
    for b in range(200):
        idx = np.repeat(np.arange(u), m[b].astype(int))
        r = num[idx].sum(axis=0) / den[idx].sum(axis=0)
        reps[b] = r / r[1] - 1
    for p in range(3):
        lo, hi = np.quantile(reps[:, p], [0.1, 0.9])
        assert out[p].lower == pytest.approx(lo) and out[p].upper == pytest.approx(hi)
    assert out[1].estimate == 0.0


def test_lift_frame_pairs_users_and_checks_them() -> None:
    idx = pd.Index(["P1", "P2", "P3"], name="participant_id")
    a = pd.DataFrame({"n": [1.0, 2.0, 3.0], "d": [2.0, 2.0, 2.0]}, index=idx)
    b = pd.DataFrame({"n": [2.0, 4.0, 6.0], "d": [2.0, 2.0, 2.0]}, index=idx)
    lf = lift_frame({"base": a, "new": b}, {"m": ("n", "d")}, "base", n_boot=50, random_state=0)
    new = lf[lf.policy == "new"].iloc[0]
    assert new["value"] == pytest.approx(2.0) and new["lift"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="other users"):
        lift_frame({"base": a, "new": b.iloc[:2]}, {"m": ("n", "d")}, "base")
    with pytest.raises(ValueError, match="ci_level"):
        ratio_lifts(np.ones((2, 2)), np.ones((2, 2)), 0, 10, level=1.5)
