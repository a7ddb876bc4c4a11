"""Replay of Home policies on the held-out logged requests, and the train / held-out split.

:func:`split_log` is the one split of stage 04 (policies and the OPE reward model are fitted on
the training days, everything is evaluated on the last ``home.test_days`` days);
:func:`replay_table` sums the frozen replay-accuracy counts of :mod:`prefcal.evaluation.accuracy`
per user for every policy; :func:`table1_lifts` makes the Table 1 analogue from them (CB's lifts
over each baseline beside the paper's, :data:`PAPER_TABLE1`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import pandas as pd

from prefcal.evaluation.accuracy import ACCURACY_METRICS, accuracy, replay_counts, user_counts
from prefcal.evaluation.intent_bands import band_counts
from prefcal.evaluation.lifts import lift_frame
from prefcal.home.logging import HomeData
from prefcal.home.policies import HomePolicy

__all__ = ["PAPER_TABLE1", "replay_table", "replay_tables", "split_log", "table1_lifts"]

#: Feijer et al. (2025), offline: lift of CB in podcast / overall accuracy over each baseline.
PAPER_TABLE1 = {
    "SC-7": {"podcast": 0.35, "overall": 0.102},
    "SC-90": {"podcast": 0.256, "overall": 0.072},
    "MB": {"podcast": 0.166, "overall": 0.028},
}


def split_log(log: HomeData) -> tuple[HomeData, HomeData, HomeData]:
    """``(train, held_out, streamed)``: the logged requests of the training days, the held-out
    requests (the last ``home.test_days`` days; OPE), and those of them with at least one stream
    (the replay evaluation set of :mod:`prefcal.evaluation.accuracy`)."""
    if log.outcomes is None:
        raise ValueError("split_log needs the logged requests (with outcomes)")
    train = log.take(np.flatnonzero(~log.test))
    held_out = log.take(np.flatnonzero(log.test))
    assert held_out.outcomes is not None
    return train, held_out, held_out.take(np.flatnonzero(held_out.outcomes.streamed.any(axis=1)))


def replay_table(test: HomeData, policies: dict[str, HomePolicy]) -> dict[str, pd.DataFrame]:
    """Per-user accuracy counts of every policy on ``test`` (held-out requests with a stream)."""
    return replay_tables(test, policies)[0]


def replay_tables(
    test: HomeData,
    policies: dict[str, HomePolicy],
    band: np.ndarray | None = None,
    n_bands: int = 0,
    band_policies: Collection[str] = (),
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    """:func:`replay_table`, and per-user counts by intent band
    (:func:`prefcal.evaluation.intent_bands.band_counts`, request bands ``band (n,)``) of the
    policies in ``band_policies``, from one action distribution per policy."""
    if test.outcomes is None:
        raise ValueError("replay needs logged requests")
    if band_policies and band is None:
        raise ValueError("band counts need the band of every request")
    out, by_band = {}, {}
    o = test.outcomes
    for name, pol in policies.items():
        d = pol.distribution(test.inp)
        c = replay_counts(o.streamed, o.slates, d.containment, d.mix, test.inp.item_type)
        out[name] = user_counts(c, test.participant_id)
        if name in band_policies:
            assert band is not None
            b = band_counts(o.streamed, o.slates, d.containment, test.inp.item_type, band, n_bands)
            by_band[name] = user_counts(b, test.participant_id)
    return out, by_band


def table1_lifts(
    per_user: dict[str, pd.DataFrame],
    treatment: str,
    baselines: Sequence[str],
    n_boot: int,
    level: float,
    random_state: int,
) -> pd.DataFrame:
    """Lifts of ``treatment`` over each baseline (same user resamples for every baseline)."""
    rows = []
    for base in baselines:
        pair = {base: per_user[base], treatment: per_user[treatment]}
        lf = lift_frame(pair, ACCURACY_METRICS, base, [treatment], n_boot, level, random_state)
        for rec in lf.to_dict("records"):
            acc_b = accuracy(per_user[base])[rec["metric"]]
            paper = PAPER_TABLE1.get(base, {}).get(rec["metric"], np.nan)
            rows.append(
                {
                    "baseline": base,
                    "metric": rec["metric"],
                    "value_cb": rec["value"],
                    "value_base": acc_b,
                    "lift": rec["lift"],
                    "lower": rec["lower"],
                    "upper": rec["upper"],
                    "paper": paper,
                }
            )
    return pd.DataFrame(rows)
