"""Podcast accuracy by the request's true intent (prefcal.evaluation.intent_bands)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from prefcal.evaluation.accuracy import replay_counts, user_counts
from prefcal.evaluation.intent_bands import (
    band_counts,
    band_labels,
    intent_band,
    intent_band_table,
)
from prefcal.evaluation.lifts import ratio_lifts
from prefcal.simulate.model import PODCAST

EDGES = [0.0, 0.1, 0.3, 1.0]


def test_intent_band_edges_are_right_closed() -> None:
    pi = np.array([0.0, 0.05, 0.1, 0.1000001, 0.3, 0.31, 1.0])
    assert intent_band(pi, EDGES).tolist() == [0, 0, 0, 1, 1, 2, 2]
    assert band_labels(EDGES) == ["0-10 %", "10-30 %", "30-100 %"]
    assert band_labels([0, 0.05, 1]) == ["0-5 %", "5-100 %"]


@pytest.mark.parametrize("edges", [[0.0], [0.0, 0.5, 0.4, 1.0], [0.1, 1.0], [0.0, 0.9]])
def test_bad_edges_are_named(edges) -> None:
    with pytest.raises(ValueError, match="intent_bands"):
        intent_band(np.array([0.5]), edges)


def _random_replay(rng: np.random.Generator, n: int = 40, k: int = 4):
    item_type = np.array([0] * 6 + [PODCAST] * 4 + [2] * 3)
    j = item_type.size
    slates = np.stack([rng.permutation(j)[:k] for _ in range(n)])
    streamed = rng.random((n, k)) < 0.4
    containment = rng.random((n, j))
    mix = rng.dirichlet(np.ones(3), size=n)
    band = rng.integers(0, 3, size=n)
    return streamed, slates, containment, mix, item_type, band


def test_band_counts_add_up_to_the_podcast_accuracy_counts() -> None:
    """Summed over bands, the counts are Table 1's podcast counts; the slots are the expected
    podcasts of the slate, by hand on one request."""
    rng = np.random.default_rng(0)
    streamed, slates, cont, mix, item_type, band = _random_replay(rng)
    b = band_counts(streamed, slates, cont, item_type, band, 3)
    ref = replay_counts(streamed, slates, cont, mix, item_type)
    for name in ("podcast_streamed", "podcast_contained"):
        total = sum(b[f"{name}_{k}"] for k in range(3))
        np.testing.assert_allclose(total, ref[name], rtol=0, atol=1e-12)
    assert sum(b[f"requests_{k}"] for k in range(3)).tolist() == [1.0] * 40
    i = 5
    k = band[i]
    assert b[f"podcast_slots_{k}"][i] == pytest.approx(cont[i, item_type == PODCAST].sum())
    assert all(b[f"podcast_slots_{o}"][i] == 0 for o in range(3) if o != k)


def test_ratio_lifts_with_one_control_per_column_equals_pairwise_calls() -> None:
    rng = np.random.default_rng(1)
    num = rng.integers(0, 5, size=(30, 4)).astype(float)
    den = num + rng.integers(0, 3, size=(30, 4))
    both = ratio_lifts(num, den, [0, 0, 2, 2], 200, 0.9, 7)
    left = ratio_lifts(num[:, :2], den[:, :2], 0, 200, 0.9, 7)
    right = ratio_lifts(num[:, 2:], den[:, 2:], 0, 200, 0.9, 7)
    assert both == left + right
    assert both[0].estimate == 0 and both[2].estimate == 0
    with pytest.raises(ValueError, match="one per column"):
        ratio_lifts(num, den, [0], 10, 0.9, 7)
    with pytest.raises(ValueError, match="out of range"):
        ratio_lifts(num, den, [0, 0, 4, 2], 10, 0.9, 7)


def test_intent_band_table_known_answer() -> None:
    """Two users, two policies, three bands: accuracies, shares, slots and lifts by hand."""
    users = pd.Index(["u1", "u2"], name="participant_id")

    def frame(contained: list[list[float]], slots: list[list[float]]) -> pd.DataFrame:
        cols = {}
        streamed = [[1.0, 0.0, 2.0], [1.0, 0.0, 0.0]]  # user x band podcast streams
        requests = [[1.0, 1.0, 2.0], [1.0, 0.0, 0.0]]
        for k in range(3):
            cols[f"podcast_streamed_{k}"] = [streamed[0][k], streamed[1][k]]
            cols[f"podcast_contained_{k}"] = [contained[0][k], contained[1][k]]
            cols[f"requests_{k}"] = [requests[0][k], requests[1][k]]
            cols[f"podcast_slots_{k}"] = [slots[0][k], slots[1][k]]
        return pd.DataFrame(cols, index=users)

    per_user = {
        "SC-90": frame([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]], [[1.0, 1.0, 2.0], [1.0, 0.0, 0.0]]),
        "CB": frame([[0.0, 0.0, 2.0], [0.5, 0.0, 0.0]], [[0.0, 0.0, 5.0], [0.5, 0.0, 0.0]]),
    }
    t = intent_band_table(per_user, EDGES, "SC-90", 100, 0.9, 3).set_index(["policy", "band"])
    assert t.loc[("CB", 0), "accuracy"] == pytest.approx(0.25)  # (0 + 0.5) / 2
    assert t.loc[("SC-90", 0), "accuracy"] == pytest.approx(1.0)
    assert t.loc[("CB", 0), "lift"] == pytest.approx(-0.75)
    assert t.loc[("CB", 2), "accuracy"] == pytest.approx(1.0)
    assert t.loc[("CB", 2), "lift"] == pytest.approx(1.0)
    assert np.isnan(t.loc[("CB", 1), "accuracy"]) and np.isnan(t.loc[("CB", 1), "lift"])
    assert t.loc[("CB", 2), "podcasts_per_slate"] == pytest.approx(2.5)
    assert t.loc[("SC-90", 1), "podcasts_per_slate"] == pytest.approx(1.0)
    shares = t.xs("SC-90", level="policy")["stream_share"]
    assert shares.tolist() == pytest.approx([0.5, 0.0, 0.5]) and shares.sum() == pytest.approx(1)
    assert (t.xs("SC-90", level="policy")["lift"].dropna() == 0).all()
    assert t.loc[("CB", 0), "label"] == "0-10 %"
    lo, hi = t.loc[("CB", 0), ["lift_lower", "lift_upper"]]
    assert lo <= -0.75 + 1e-12 and hi >= lo


def test_band_counts_feed_the_table_from_user_counts() -> None:
    """Per-request counts summed per user, then the table: its band accuracies, weighted by the
    bands' podcast streams, average to the overall podcast accuracy."""
    rng = np.random.default_rng(4)
    streamed, slates, cont, mix, item_type, band = _random_replay(rng, n=60)
    user = np.array([f"u{i % 7}" for i in range(60)], dtype=object)
    per_user = {}
    overall = {}
    for name, c in (("SC-90", cont), ("CB", np.sqrt(cont))):
        per_user[name] = user_counts(band_counts(streamed, slates, c, item_type, band, 3), user)
        ref = replay_counts(streamed, slates, c, mix, item_type)
        overall[name] = ref["podcast_contained"].sum() / ref["podcast_streamed"].sum()
    t = intent_band_table(per_user, EDGES, "SC-90", 50, 0.9, 0)
    for name, g in t.groupby("policy"):
        ok = g["podcast_streams"] > 0
        weighted = (g.loc[ok, "accuracy"] * g.loc[ok, "stream_share"]).sum()
        assert weighted == pytest.approx(overall[name])


def _bands_table(streams: list[float], sc_acc: list[float], cb_acc: list[float]) -> pd.DataFrame:
    """A long table of three bands for SC-90, CB and the oracle (the oracle copies CB)."""
    rows = []
    edges = EDGES
    total = sum(streams)
    for k in range(3):
        for policy, acc in (("SC-90", sc_acc[k]), ("CB", cb_acc[k]), ("CB-oracle", cb_acc[k])):
            lift = acc / sc_acc[k] - 1 if sc_acc[k] > 0 else float("inf")
            rows.append(
                {
                    "band": k,
                    "label": band_labels(edges)[k],
                    "lower_edge": edges[k],
                    "upper_edge": edges[k + 1],
                    "policy": policy,
                    "podcast_streams": streams[k],
                    "stream_share": streams[k] / total,
                    "requests": 100.0,
                    "accuracy": acc,
                    "podcasts_per_slate": 1.0 + k,
                    "lift": 0.0 if policy == "SC-90" else lift,
                    "lift_lower": 0.0 if policy == "SC-90" else lift - 0.1,
                    "lift_upper": 0.0 if policy == "SC-90" else lift + 0.1,
                }
            )
    return pd.DataFrame(rows)


def test_intent_macros_pick_bands_with_enough_streams_and_a_finite_lift() -> None:
    from prefcal.evaluation.intent_report import intent_band_macros
    from prefcal.paper.macros import render_macros

    # band 0: 5 streams (too few); band 1: SC-90 accuracy 0 (lift infinite); band 2: fine
    t = _bands_table([5, 40, 55], [0.5, 0.0, 0.8], [0.25, 0.5, 0.9])
    m = intent_band_macros(t, min_streams=20)
    assert m["IntentLowBand"] == m["IntentHighBand"] == "30--100\\%"
    assert m["IntentHighCBLiftCI"] == "+12.5\\% [+2.5, +22.5]"
    assert m["IntentHighAccSCNinety"] == "80.0\\%" and m["IntentHighPodcastsCB"] == "3.00"
    assert m["IntentHighStreamShare"] == "55\\%"
    # with every band allowed, the lowest is band 0 and band 1 is never chosen (SC-90 at 0)
    m0 = intent_band_macros(t, min_streams=1)
    assert m0["IntentLowBand"] == "0--10\\%" and m0["IntentLowCBLiftCI"].startswith("\\ensuremath")
    # nothing qualifies: every macro is still defined and reads --
    none = intent_band_macros(t, min_streams=1000)
    assert set(none) == set(m) and set(none.values()) == {"--", "1,000"}
    assert len(m) == 2 * 10 + 1 and m["IntentMinStreams"] == "20"
    render_macros(m)  # valid names and values


def test_intent_figure_draws_every_policy() -> None:
    import matplotlib.pyplot as plt

    from prefcal.evaluation.intent_report import intent_band_figure

    t = _bands_table([5, 40, 55], [0.5, 0.4, 0.8], [0.25, 0.5, 0.9])
    fig = intent_band_figure(t)
    left, right = fig.axes[:2]
    assert [ln.get_label() for ln in right.get_lines()] == ["SC-90", "CB", "CB-oracle"]
    assert [tick.get_text() for tick in left.get_xticklabels()][0] == "0-10 %\n[5 %]"
    plt.close(fig)
