"""False-positive rate and power of the H1 permutation test, on simulated studies.

* :func:`h1_null_rate`: replications of a study whose recommender ignores preferences (policy
  ``"none"``: each user's slates come from a per-user mix independent of that user's listening),
  so the user <-> target assignment is exchangeable and H1's null holds exactly. The rejection rate
  at level ``alpha`` must be ``alpha`` up to Monte-Carlo error; reported with a Clopper-Pearson CI
  and the Kolmogorov-Smirnov distance of the p-values from uniform.
* :func:`h1_power_curve`: the rejection rate over a grid of participants x alignment strength
  ``a`` of a recommender following the 90-day history (``a = 0`` is the null again).

Null replication ``r`` uses ``SeedSequence(seed, spawn_key=(0, 0, r))`` and replication ``r`` of
power grid point ``(i, j)`` uses ``spawn_key=(1, i, j, r)``: every number is reproducible and
independent of the grid's order. One replication = simulate, build the
user x user JS matrix, run the vectorised permutation test; the loop is over replications only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import stats

from prefcal.rq.contract import SnapshotData, user_mean
from prefcal.rq.divergence import cross_js_matrix
from prefcal.rq.resampling import assignment_permutation_test
from prefcal.rq.synthetic import SyntheticConfig, simulate_snapshots

__all__ = ["NullRate", "clopper_pearson", "h1_null_rate", "h1_p_value", "h1_power_curve"]


@dataclass(frozen=True)
class NullRate:
    """Share of null replications with ``p <= alpha`` and its CI, the p-values, and the KS
    distance of the p-values from U(0, 1)."""

    rate: float
    ci_low: float
    ci_high: float
    n_rejected: int
    n_replications: int
    alpha: float
    p_values: np.ndarray
    ks_statistic: float


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial CI for ``k`` successes in ``n`` trials."""
    a = 1 - level
    lo = 0.0 if k == 0 else float(stats.beta.ppf(a / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(stats.beta.ppf(1 - a / 2, k + 1, n - k))
    return lo, hi


def h1_p_value(
    data: SnapshotData, n_permutations: int, rng: np.random.Generator, target: str = "hist_90"
) -> float:
    """p-value of the H1 assignment permutation test on one study (see :mod:`.hypotheses`)."""
    pbar = user_mean(data.targets[target], data.user, data.n_users)
    keep = np.flatnonzero(np.isfinite(pbar).all(axis=1))
    if keep.size < 3:
        return float("nan")
    sub = data.subset_users(keep) if keep.size < data.n_users else data
    d = cross_js_matrix(sub.counts, sub.user, sub.n_users, pbar[keep])
    return assignment_permutation_test(d, n_permutations, rng, "greater").p_value


def _replicate(
    config: SyntheticConfig,
    policy: str,
    alignment: float,
    n_permutations: int,
    ss: np.random.SeedSequence,
) -> float:
    sim_ss, test_ss = ss.spawn(2)
    study = simulate_snapshots(config, policy, alignment, np.random.default_rng(sim_ss))
    return h1_p_value(study.data, n_permutations, np.random.default_rng(test_ss))


def h1_null_rate(
    config: SyntheticConfig,
    n_replications: int,
    n_permutations: int,
    alpha: float,
    seed: int,
    level: float = 0.95,
) -> NullRate:
    """H1 rejection rate over ``n_replications`` studies of a preference-ignoring recommender."""
    p = np.array(
        [
            _replicate(
                config,
                "none",
                0.0,
                n_permutations,
                np.random.SeedSequence(seed, spawn_key=(0, 0, r)),
            )
            for r in range(n_replications)
        ]
    )
    p = p[np.isfinite(p)]
    k = int(np.sum(p <= alpha))
    lo, hi = clopper_pearson(k, p.size, level)
    ks = float(stats.kstest(p, "uniform").statistic) if p.size else float("nan")
    return NullRate(k / p.size, lo, hi, k, int(p.size), alpha, p, ks)


def h1_power_curve(
    config: SyntheticConfig,
    n_users: Sequence[int],
    alignments: Sequence[float],
    n_replications: int,
    n_permutations: int,
    alpha: float,
    seed: int,
    policy: str = "hist_90",
    level: float = 0.95,
) -> pd.DataFrame:
    """Power of H1 at level ``alpha`` for each (participants, alignment): one row each with
    ``power``, its Clopper-Pearson CI and the number of replications."""
    rows = []
    for i, n in enumerate(n_users):
        cfg = replace(config, n_users=int(n))
        for j, a in enumerate(alignments):
            p = np.array(
                [
                    _replicate(
                        cfg,
                        policy,
                        float(a),
                        n_permutations,
                        np.random.SeedSequence(seed, spawn_key=(1, i, j, r)),
                    )
                    for r in range(n_replications)
                ]
            )
            p = p[np.isfinite(p)]
            k = int(np.sum(p <= alpha))
            lo, hi = clopper_pearson(k, p.size, level)
            rows.append(
                {
                    "n_users": int(n),
                    "alignment": float(a),
                    "power": k / max(p.size, 1),
                    "ci_low": lo,
                    "ci_high": hi,
                    "n_replications": int(p.size),
                }
            )
    return pd.DataFrame(rows)
