"""Which policy is Spotify following? Attribute the recommended types to the best-fitting target.

Model for target ``T`` (one of :data:`prefcal.rq.contract.TARGETS`): the type of each recommended
item in snapshot ``s`` is drawn from

.. math:: \\pi_{T,s}(w) = w\\, \\tilde p_{T,s} + (1 - w)\\, u, \\qquad
          \\tilde p = (1 - \\varepsilon) p + \\varepsilon u, \\quad u = (1/G, \\dots, 1/G),

a target followed with strength ``w`` and otherwise uniform exploration (as in an epsilon-greedy
bandit); ``epsilon`` is the log-likelihood floor (``rq.ll_floor``). ``w_T`` is fitted by maximum
likelihood (the log-likelihood is concave in ``w``; bisection on its derivative), so a target is
not penalised for being followed only partly. The score of ``T`` is the mean log-probability per
recommended item at ``w_T``,

.. math:: \\bar\\ell_T = \\frac{\\sum_s \\sum_g n_{sg} \\ln \\pi_{T,s,g}(\\hat w_T)}{\\sum_s K_s},

over the snapshots where *every* target is defined (the same items for all targets). The
attributed policy is ``argmax_T lbar_T``. Uncertainty: users are resampled with replacement
(``w_T`` held at its full-sample value; it is one parameter fitted on all items); reported are the
percentile CI of each ``lbar_T``, of the winner's margin over the runner-up, and the share of
resamples that each target wins (``win_share``). ``user_best_share`` is the share of users whose
own items are best explained by ``T``.

Identifiability: the model family of ``T`` is the segment from ``u`` to ``p_T``; two targets that
are (nearly) constant and lie on one ray from ``u`` give (nearly) the same family and cannot be
told apart - e.g. a fixed global mix that is a tempered copy of the popularity mix. Personal
targets (hist_90, hist_7, context) differ per user and per time, which is what separates them.
:func:`attribution_confusion` validates the attribution on simulated studies whose true policy is
known and shows which targets a study of a given size and alignment can separate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from prefcal.rq.contract import TARGETS, SnapshotData
from prefcal.rq.divergence import smooth_target
from prefcal.rq.resampling import bootstrap_indices
from prefcal.rq.synthetic import SyntheticConfig, simulate_snapshots

__all__ = [
    "Attribution",
    "Confusion",
    "attribute_policy",
    "attribution_confusion",
    "fit_weight",
]


@dataclass(frozen=True)
class Attribution:
    """``table``: one row per target (target, weight, ll_per_item, ll_ci_low, ll_ci_high,
    win_share, user_best_share); ``winner``; ``margin`` (winner minus runner-up, per item) and its
    CI; sizes."""

    table: pd.DataFrame
    winner: str
    margin: float
    margin_ci_low: float
    margin_ci_high: float
    n_users: int
    n_snapshots: int


@dataclass(frozen=True)
class Confusion:
    """``matrix``: true policy (rows) x attributed policy (columns), counts of studies;
    ``accuracy`` = share on the diagonal; ``runs``: one row per simulated study."""

    matrix: pd.DataFrame
    accuracy: float
    runs: pd.DataFrame


def fit_weight(counts: np.ndarray, p: np.ndarray, floor: float = 1e-3, iters: int = 60) -> float:
    """MLE of ``w`` in [0, 1] for ``n_s ~ Multinomial(K_s, w p~_s + (1 - w) u)`` (rows of ``p``
    finite). The derivative ``sum n (p~ - u) / (w p~ + (1 - w) u)`` decreases in ``w``."""
    pt = smooth_target(p, floor)
    u = 1.0 / pt.shape[1]
    diff = pt - u

    def slope(w: float) -> float:
        return float((counts * diff / (w * pt + (1.0 - w) * u)).sum())

    if slope(0.0) <= 0:
        return 0.0
    if slope(1.0) >= 0:
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        if slope(mid) > 0:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _loglik_per_user(
    data: SnapshotData, rows: np.ndarray, targets: Sequence[str], floor: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(weights (T,), per-user log-likelihood sums (U, T), per-user item counts (U,))."""
    counts = data.counts[rows]
    user = data.user[rows]
    g = data.n_types
    weights = np.empty(len(targets))
    ll_user = np.zeros((data.n_users, len(targets)))
    for j, t in enumerate(targets):
        p = data.targets[t][rows]
        w = fit_weight(counts, p, floor)
        weights[j] = w
        pi = w * smooth_target(p, floor) + (1.0 - w) / g
        with np.errstate(divide="ignore"):
            ll = (counts * np.where(counts > 0, np.log(pi), 0.0)).sum(axis=1)
        ll_user[:, j] = np.bincount(user, weights=ll, minlength=data.n_users)
    items = np.bincount(user, weights=counts.sum(axis=1), minlength=data.n_users)
    return weights, ll_user, items


def attribute_policy(
    data: SnapshotData,
    n_bootstrap: int,
    rng: np.random.Generator | None = None,
    level: float = 0.95,
    floor: float = 1e-3,
    targets: Sequence[str] = TARGETS,
    block: int = 250,
) -> Attribution:
    """Attribute the recommended types of ``data`` to one of ``targets`` (see module docstring).

    ``n_bootstrap = 0`` skips the bootstrap (CIs and win shares NaN): what the confusion study uses.
    """
    rows = np.ones(data.n_snapshots, dtype=bool)
    for t in targets:
        rows &= np.isfinite(data.targets[t]).all(axis=1)
    if not rows.any():
        raise ValueError("no snapshot has every target defined; cannot attribute")
    weights, ll_user, items = _loglik_per_user(data, rows, targets, floor)
    present = items > 0
    ll_user, items = ll_user[present], items[present]
    score = ll_user.sum(axis=0) / items.sum()
    order = np.argsort(-score, kind="stable")
    best, second = order[0], order[1] if len(targets) > 1 else order[0]
    user_best = np.bincount(np.argmax(ll_user, axis=1), minlength=len(targets)) / ll_user.shape[0]

    ci = np.full((len(targets), 2), np.nan)
    win = np.full(len(targets), np.nan)
    margin_ci = (np.nan, np.nan)
    if n_bootstrap > 0:
        if rng is None:
            raise ValueError("attribute_policy needs an rng when n_bootstrap > 0")
        n = ll_user.shape[0]
        reps = np.empty((n_bootstrap, len(targets)))
        done = 0
        while done < n_bootstrap:
            size = min(block, n_bootstrap - done)
            idx = bootstrap_indices(rng, n, size)
            reps[done : done + size] = ll_user[idx].sum(axis=1) / items[idx].sum(axis=1)[:, None]
            done += size
        lo, hi = (1 - level) / 2, (1 + level) / 2
        ci = np.quantile(reps, [lo, hi], axis=0).T
        win = np.bincount(np.argmax(reps, axis=1), minlength=len(targets)) / n_bootstrap
        m = reps[:, best] - reps[:, second]
        margin_ci = tuple(float(v) for v in np.quantile(m, [lo, hi]))
    table = pd.DataFrame(
        {
            "target": list(targets),
            "weight": weights,
            "ll_per_item": score,
            "ll_ci_low": ci[:, 0],
            "ll_ci_high": ci[:, 1],
            "win_share": win,
            "user_best_share": user_best,
        }
    )
    return Attribution(
        table=table,
        winner=str(targets[best]),
        margin=float(score[best] - score[second]),
        margin_ci_low=margin_ci[0],
        margin_ci_high=margin_ci[1],
        n_users=int(present.sum()),
        n_snapshots=int(rows.sum()),
    )


def attribution_confusion(
    config: SyntheticConfig,
    alignment: float,
    n_replications: int,
    seed: int,
    policies: Sequence[str] = TARGETS,
    floor: float = 1e-3,
) -> Confusion:
    """Simulate ``n_replications`` studies per true policy (recommender following it with
    ``alignment``), attribute each, and count true x attributed. Study (i, r) uses the seed
    ``SeedSequence(seed, spawn_key=(i, r))``."""
    runs = []
    for i, policy in enumerate(policies):
        for r in range(n_replications):
            ss = np.random.SeedSequence(seed, spawn_key=(i, r))
            study = simulate_snapshots(config, policy, alignment, np.random.default_rng(ss))
            att = attribute_policy(study.data, 0, None, floor=floor, targets=policies)
            runs.append(
                {
                    "true": policy,
                    "replication": r,
                    "attributed": att.winner,
                    "margin": att.margin,
                    "weight": float(
                        att.table.loc[att.table["target"] == att.winner, "weight"].iloc[0]
                    ),
                }
            )
    frame = pd.DataFrame(runs)
    matrix = pd.crosstab(
        pd.Categorical(frame["true"], categories=list(policies)),
        pd.Categorical(frame["attributed"], categories=list(policies)),
        dropna=False,
    )
    matrix.index.name, matrix.columns.name = "true", "attributed"
    accuracy = float((frame["true"] == frame["attributed"]).mean())
    return Confusion(matrix=matrix, accuracy=accuracy, runs=frame)
