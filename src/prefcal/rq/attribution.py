r"""Which policy is Spotify following? Attribute the recommended types to the best-fitting target.

Two models of how a recommender that follows target ``T`` turns the target ``p_{T,s}`` of
snapshot ``s`` into the type distribution ``pi_{T,s}`` of its recommended items (``n_s`` items
per type, ``K_s = sum_g n_sg``; ``p~ = (1 - eps) p + eps u`` with ``u = (1/G, ..., 1/G)`` and
``eps`` the log-likelihood floor ``rq.ll_floor``):

``calibrated`` (the default)
    .. math:: \pi_{T,s} = \tilde p_{T,s}^{\top} C_T, \qquad
              E[n_{sg} / K_s \mid p_{T,s}] = \sum_z \tilde p_{T,s,z} C_{T,zg},

    a per-study *calibration* of the realised type mix against the target: row ``z`` of the
    ``G x G`` matrix ``C_T`` is the type mix the recommender realises for a target that is pure
    type ``z``. It absorbs both the exploration of an epsilon-greedy bandit (a uniformly random
    arm) and the type distortion of a KL-penalised slate builder, whose relevance term pulls
    realised slates towards the types with the best candidates (on the simulated Home logs a
    pure-music arm yields 86 % music, a pure-podcast arm 57 % podcasts). Any affine map of the
    simplex is of this form, so the model follows the *conditional relationship* between target
    and recommended types, not their absolute level. ``C_T`` is the weighted least-squares fit
    ``C = (P^T W P)^+ P^T W Q`` (rows of ``P`` = ``p~_s``, of ``Q`` = ``n_s / K_s``, ``W =
    diag(K_s)``, ``+`` the pseudo-inverse at relative tolerance 1e-10), and ``pi`` is clipped at
    ``eps / G`` and renormalised. The calibration has ``d_T = r_T (G - 1)`` free parameters, ``r_T``
    the rank of ``P^T W P`` (1 for a target that is the same for everybody, G for a personal one).
    The reported ``weight`` is the responsiveness ``(tr C_T - 1) / (G - 1)``: 1 when the realised
    mix equals the target, 0 when it ignores it; for ``C = w I + (1 - w) 1 c^T`` (follow the
    target with probability ``w``, else a fixed mix ``c``) it equals ``w``. NaN when ``P^T W P``
    is singular or ill-conditioned (smallest / largest eigenvalue below 1e-4: the target barely
    varies, like the popularity mix, and no slope is identified).
``level``
    .. math:: \pi_{T,s}(w) = w\, \tilde p_{T,s} + (1 - w)\, u,

    the target followed with strength ``w`` (maximum likelihood, :func:`fit_weight`), otherwise
    uniform; one parameter. Right when recommended types are drawn from the target itself (the
    synthetic generator of :mod:`prefcal.rq.synthetic`); wrong for a slate builder that distorts
    the target: on Home logs it attributes the 90-day logger to the popularity mix, whose level is
    closer to the distorted slates.

Score and choice. Users are split into ``n_folds`` folds (user ``i`` of the sorted random study
ids into fold ``i mod n_folds``); every model is fitted on the other folds and scored on the
held-out users, so a model with more parameters gains nothing from fitting noise (and copies of one
user never straddle a fit and its test). The score of model ``m`` is the held-out multinomial
log-likelihood per recommended item,

.. math:: S_m = \frac{1}{N} \sum_u \sum_{s \in u} \sum_g n_{sg} \ln \pi^{(-f(u))}_{m,s,g},
          \qquad N = \sum_s K_s,

over the snapshots where *every* target is defined (the same items for all). Models are
(target, family) pairs: ``method = "combined"`` (the default) tries both families for each target,
``"calibrated"`` or ``"level"`` one. The calibrated family of a personal target contains every
constant mix, so on data from a fixed-mix recommender all models tie up to noise; the choice
therefore follows the *one-standard-error rule*: among the models whose score is within one
standard error of the best score, ``S_best - S_m <= SE_m`` with
``SE_m = sqrt(U var_u(L_best,u - L_m,u)) / N`` (``L_m,u`` = user u's held-out log-likelihood, a
paired SE over users), the one with the fewest parameters wins (then the higher score). The
attributed policy is that model's target; a target's reported score is that of its best family.
Uncertainty: users are resampled with replacement (models held at their cross-validated fits);
reported are the percentile CI of each target's score, of the winner's margin over the best other
target (negative when the rule picked a simpler model within one SE), and the share of resamples in
which the rule (with the full-sample SEs) picks each target (``win_share``). ``user_best_share`` is
the share of users whose own held-out items are best explained by ``T``.

Identifiability: two targets that are (nearly) the same function of the snapshot cannot be told
apart by any model - on the simulated Home population the fixed global mix (the pooled stream mix
before the logs) and the popularity mix (the pooled mix of the last 28 days) coincide to 0.001,
so policies following either serve the same slates, and the calibrated family cannot separate two
*constant* targets at all (it fits any constant level); the level family can, when the levels
differ. :func:`attribution_confusion` validates the attribution on the synthetic generator,
:func:`prefcal.rq.home_validation.home_attribution_confusion` on Home logs served by each known
policy; both report which targets a study can separate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from prefcal.rq.contract import TARGETS, SnapshotData
from prefcal.rq.divergence import smooth_target
from prefcal.rq.resampling import block_rows, bootstrap_indices
from prefcal.rq.subsample import ATTRIBUTION_STREAM, user_subsample
from prefcal.rq.synthetic import SyntheticConfig, simulate_snapshots

__all__ = [
    "METHODS",
    "N_FOLDS",
    "Attribution",
    "Confusion",
    "attribute_policy",
    "attribution_users",
    "attribution_confusion",
    "calibrated_probs",
    "confusion_from_runs",
    "fit_calibration",
    "fit_weight",
]

METHODS = ("combined", "calibrated", "level")
#: folds of users for the held-out log-likelihood (default of :func:`attribute_policy`)
N_FOLDS = 5
RCOND = 1e-10
WELL_POSED = 1e-4


@dataclass(frozen=True)
class Attribution:
    """``table``: one row per target (target, model = its best family, n_params, weight,
    ll_per_item = held-out score, ll_ci_low, ll_ci_high, se_to_best, win_share, user_best_share);
    ``winner``; ``margin`` (winner minus best other target, per item) and its CI; sizes;
    ``calibration``: target -> full-sample ``C_T`` (calibrated family)."""

    table: pd.DataFrame
    winner: str
    margin: float
    margin_ci_low: float
    margin_ci_high: float
    n_users: int
    n_snapshots: int
    n_items: int
    calibration: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class Confusion:
    """``matrix``: true policy (rows) x attributed policy (columns), counts of studies;
    ``accuracy`` = share on the diagonal; ``groups``: sets of policies that the studies cannot
    separate (their logs are the same), ``accuracy_merged`` = share attributed to the true policy
    or to one in its group; ``runs``: one row per simulated study."""

    matrix: pd.DataFrame
    accuracy: float
    runs: pd.DataFrame
    groups: tuple[tuple[str, ...], ...] = ()
    accuracy_merged: float = float("nan")


def fit_weight(
    counts: np.ndarray, p: np.ndarray, floor: float = 1e-3, iters: int = 60, w0: float = 0.5
) -> float:
    """MLE of ``w`` in [0, 1] for ``n_s ~ Multinomial(K_s, w p~_s + (1 - w) u)`` (rows of ``p``
    finite). The log-likelihood is concave in ``w``: its derivative
    ``sum n (p~ - u) / (w p~ + (1 - w) u)`` decreases; safeguarded Newton steps from ``w0``
    inside the bracket where the derivative changes sign (bisection when a step leaves it), until a
    step is below 1e-10."""
    pt = smooth_target(p, floor)
    counts = np.asarray(counts, dtype=np.float64)
    u = 1.0 / pt.shape[1]
    diff = pt - u
    keep = counts > 0
    n, dd = counts[keep], diff[keep]
    uu = np.full(n.size, u)

    def slope_curv(w: float) -> tuple[float, float]:
        r = dd / (w * dd + uu)
        return float((n * r).sum()), float(-(n * r * r).sum())

    if slope_curv(0.0)[0] <= 0:
        return 0.0
    if slope_curv(1.0)[0] >= 0:
        return 1.0
    lo, hi, w = 0.0, 1.0, min(max(float(w0), 1e-6), 1.0 - 1e-6)
    for _ in range(iters):
        g, h = slope_curv(w)
        if g > 0:
            lo = w
        else:
            hi = w
        step = w - g / h if h < 0 else 0.5 * (lo + hi)
        new = step if lo < step < hi else 0.5 * (lo + hi)
        if abs(new - w) < 1e-10 or hi - lo < 1e-10:
            return float(new)
        w = new
    return float(w)


def fit_calibration(
    counts: np.ndarray, p: np.ndarray, floor: float = 1e-3
) -> tuple[np.ndarray, int, float]:
    """``(C, rank, conditioning)``: the weighted least-squares calibration
    ``C = (P^T W P)^+ P^T W Q`` of the module docstring (``P`` = smoothed targets, ``Q`` = observed
    type shares, ``W = diag(K_s)``), the rank of ``P^T W P`` (relative tolerance 1e-10) and its
    smallest / largest eigenvalue."""
    counts = np.asarray(counts, dtype=np.float64)
    x = smooth_target(p, floor)
    k = counts.sum(axis=1)
    if np.any(k <= 0):
        raise ValueError("fit_calibration: every snapshot needs at least one recommended item")
    xtwx = x.T @ (x * k[:, None])
    xtwq = x.T @ counts  # W Q = counts
    c = np.linalg.pinv(xtwx, rcond=RCOND, hermitian=True) @ xtwq
    sv = np.linalg.eigvalsh(xtwx)
    top = float(sv.max())
    rank = int(np.sum(sv > RCOND * top)) if top > 0 else 0
    return c, rank, float(max(sv.min(), 0.0) / top) if top > 0 else 0.0


def calibrated_probs(p: np.ndarray, c: np.ndarray, floor: float = 1e-3) -> np.ndarray:
    """``pi = clip(p~ C, eps / G)`` renormalised to rows summing to one, ``(S, G)``."""
    g = c.shape[1]
    pi = np.maximum(smooth_target(p, floor) @ c, floor / g)
    return pi / pi.sum(axis=1, keepdims=True)


def _responsiveness(c: np.ndarray, conditioning: float) -> float:
    g = c.shape[0]
    ok = conditioning >= WELL_POSED
    return float((np.trace(c) - 1.0) / (g - 1)) if ok else float("nan")


def _loglik(counts: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """Per-snapshot multinomial log-likelihood (without the multinomial coefficient)."""
    with np.errstate(divide="ignore"):
        return (counts * np.where(counts > 0, np.log(pi), 0.0)).sum(axis=1)


def _heldout(
    counts: np.ndarray, p: np.ndarray, fold: np.ndarray, n_folds: int, family: str, floor: float
) -> tuple[np.ndarray, float, int, np.ndarray | None]:
    """Held-out log-likelihood per snapshot (each fold predicted by the fit on the others), the
    full-sample weight, the number of parameters and the full-sample calibration."""
    g = counts.shape[1]
    out = np.empty(counts.shape[0])
    if family == "calibrated":
        c_full, rank, cond = fit_calibration(counts, p, floor)
        for f in range(n_folds):
            te = fold == f
            c = fit_calibration(counts[~te], p[~te], floor)[0] if (~te).any() else c_full
            out[te] = _loglik(counts[te], calibrated_probs(p[te], c, floor))
        return out, _responsiveness(c_full, cond), rank * (g - 1), c_full
    w_full = fit_weight(counts, p, floor)
    pt = smooth_target(p, floor)
    for f in range(n_folds):
        te = fold == f
        w = fit_weight(counts[~te], p[~te], floor, w0=w_full) if (~te).any() else w_full
        out[te] = _loglik(counts[te], w * pt[te] + (1.0 - w) / g)
    return out, w_full, 1, None


def _one_se_choice(scores: np.ndarray, n_params: np.ndarray, se: np.ndarray) -> np.ndarray:
    """Index of the chosen model per row of ``scores (B, M)``: among the models within ``se`` of
    the row's best score, the one with the fewest parameters (then the highest score)."""
    best = scores.max(axis=1, keepdims=True)
    ok = best - scores <= se[None, :]
    key = np.where(ok, scores - n_params[None, :] * 1e6, -np.inf)
    return np.argmax(key, axis=1)


def attribute_policy(
    data: SnapshotData,
    n_bootstrap: int,
    rng: np.random.Generator | None = None,
    level: float = 0.95,
    floor: float = 1e-3,
    targets: Sequence[str] = TARGETS,
    block: int = 250,
    method: str = "combined",
    n_folds: int = N_FOLDS,
) -> Attribution:
    """Attribute the recommended types of ``data`` to one of ``targets`` (see module docstring).

    ``method``: ``combined`` (both model families), ``calibrated`` or ``level``; ``n_folds``:
    folds of users for the held-out log-likelihood. ``n_bootstrap = 0`` skips the bootstrap (CIs
    and win shares NaN): what the confusion studies use. The bootstrap gathers at most ``block``
    resamples, and at most :data:`prefcal.rq.resampling.BLOCK_ELEMENTS` (user, model) entries,
    at a time (the sums over users do not depend on the block).
    """
    if method not in METHODS:
        raise ValueError(f"attribution method must be one of {METHODS}, got {method!r}")
    if int(n_folds) < 2:
        raise ValueError(f"n_folds must be >= 2, got {n_folds}")
    rows = np.ones(data.n_snapshots, dtype=bool)
    for t in targets:
        rows &= np.isfinite(data.targets[t]).all(axis=1)
    if not rows.any():
        raise ValueError("no snapshot has every target defined; cannot attribute")
    counts, user = data.counts[rows], data.user[rows]
    # users -> folds: rank of the user index (ids are random study ids) modulo n_folds
    fold = (np.arange(data.n_users) % n_folds)[user]
    families = ("calibrated", "level") if method == "combined" else (method,)
    cand_target, cand_family, n_params, weights = [], [], [], []
    ll_cols, cal = [], {}
    for j, t in enumerate(targets):
        p = data.targets[t][rows]
        for fam in families:
            ll, w, d, c = _heldout(counts, p, fold, n_folds, fam, floor)
            cand_target.append(j)
            cand_family.append(fam)
            n_params.append(d)
            weights.append(w)
            ll_cols.append(np.bincount(user, weights=ll, minlength=data.n_users))
            if c is not None:
                cal[t] = c
    items = np.bincount(user, weights=counts.sum(axis=1), minlength=data.n_users)
    present = items > 0
    ll_user = np.column_stack(ll_cols)[present]  # (U, M) held-out log-likelihood per user
    items = items[present]
    n_items = float(items.sum())
    n_params_a = np.asarray(n_params, dtype=np.float64)
    cand_target_a = np.asarray(cand_target)
    score_m = ll_user.sum(axis=0) / n_items
    best_m = int(np.argmax(score_m))
    diff = ll_user[:, [best_m]] - ll_user  # paired per-user differences to the best model
    n_u = ll_user.shape[0]
    se = np.sqrt(n_u * diff.var(axis=0, ddof=1)) / n_items if n_u > 1 else np.zeros(len(score_m))
    chosen = int(_one_se_choice(score_m[None, :], n_params_a, se)[0])
    winner = int(cand_target_a[chosen])

    # per target: its best family (by held-out score)
    n_t = len(targets)
    pick = np.array(
        [
            np.flatnonzero(cand_target_a == j)[np.argmax(score_m[cand_target_a == j])]
            for j in range(n_t)
        ]
    )
    pick[winner] = chosen
    score = score_m[pick]
    others = [j for j in range(n_t) if j != winner]
    runner = others[int(np.argmax(score[others]))] if others else winner
    user_best = (
        np.bincount(cand_target_a[np.argmax(ll_user, axis=1)], minlength=n_t) / ll_user.shape[0]
    )

    ci = np.full((n_t, 2), np.nan)
    win = np.full(n_t, np.nan)
    margin_ci = (np.nan, np.nan)
    if n_bootstrap > 0:
        if rng is None:
            raise ValueError("attribute_policy needs an rng when n_bootstrap > 0")
        reps = np.empty((n_bootstrap, ll_user.shape[1]))
        done = 0
        rows_per_block = block_rows(block, n_u * ll_user.shape[1])  # (size, U, M) gathered
        while done < n_bootstrap:
            size = min(rows_per_block, n_bootstrap - done)
            idx = bootstrap_indices(rng, n_u, size)
            reps[done : done + size] = ll_user[idx].sum(axis=1) / items[idx].sum(axis=1)[:, None]
            done += size
        lo, hi = (1 - level) / 2, (1 + level) / 2
        ci = np.quantile(reps[:, pick], [lo, hi], axis=0).T
        won = cand_target_a[_one_se_choice(reps, n_params_a, se)]
        win = np.bincount(won, minlength=n_t) / n_bootstrap
        m = reps[:, pick[winner]] - reps[:, pick[runner]]
        margin_ci = tuple(float(v) for v in np.quantile(m, [lo, hi]))
    table = pd.DataFrame(
        {
            "target": list(targets),
            "model": [cand_family[i] for i in pick],
            "n_params": n_params_a[pick].astype(np.int64),
            "weight": np.asarray(weights, dtype=np.float64)[pick],
            "ll_per_item": score,
            "ll_ci_low": ci[:, 0],
            "ll_ci_high": ci[:, 1],
            "se_to_best": se[pick],
            "win_share": win,
            "user_best_share": user_best,
        }
    )
    return Attribution(
        table=table,
        winner=str(targets[winner]),
        margin=float(score[winner] - score[runner]),
        margin_ci_low=margin_ci[0],
        margin_ci_high=margin_ci[1],
        n_users=int(present.sum()),
        n_snapshots=int(rows.sum()),
        n_items=int(round(n_items)),
        calibration=cal,
    )


def attribution_users(data: SnapshotData, max_users: int | None, seed: int) -> SnapshotData:
    """The snapshots the attribution is fitted on (config ``rq.attribution.max_users``): ``data``
    itself when it has at most ``max_users`` users, else the snapshots of the seeded subsample
    :func:`prefcal.rq.subsample.user_subsample` (stream
    :data:`prefcal.rq.subsample.ATTRIBUTION_STREAM`; a rule on the sorted participant ids, the
    same users whatever the shards). The held-out fits and the bootstrap hold several arrays per
    snapshot, so a fixed number of users bounds their memory; tens of thousands of users already
    pin the scores far below the margins between targets."""
    if max_users is None or data.n_users <= int(max_users):
        return data
    ids = user_subsample(data.participant_ids, max_users, seed, ATTRIBUTION_STREAM)
    return data.subset_users(np.searchsorted(data.participant_ids, ids))


def confusion_from_runs(
    runs: pd.DataFrame,
    policies: Sequence[str],
    groups: Sequence[Sequence[str]] = (),
) -> Confusion:
    """The confusion matrix of ``runs`` (columns ``true``, ``attributed``); ``groups`` are sets of
    policies counted as one for ``accuracy_merged``."""
    matrix = pd.crosstab(
        pd.Categorical(runs["true"], categories=list(policies)),
        pd.Categorical(runs["attributed"], categories=list(policies)),
        dropna=False,
    )
    matrix.index.name, matrix.columns.name = "true", "attributed"
    label = {p: p for p in policies}
    for grp in groups:
        for p in grp:
            label[p] = "|".join(grp)
    correct = runs["true"] == runs["attributed"]
    merged = runs["true"].map(label) == runs["attributed"].map(label)
    return Confusion(
        matrix=matrix,
        accuracy=float(correct.mean()),
        runs=runs,
        groups=tuple(tuple(g) for g in groups),
        accuracy_merged=float(merged.mean()),
    )


def attribution_confusion(
    config: SyntheticConfig,
    alignment: float,
    n_replications: int,
    seed: int,
    policies: Sequence[str] = TARGETS,
    floor: float = 1e-3,
    method: str = "combined",
) -> Confusion:
    """Simulate ``n_replications`` synthetic studies per true policy (recommender following it with
    ``alignment``, :mod:`prefcal.rq.synthetic`), attribute each with ``method``, and count true x
    attributed. Study (i, r) uses the seed ``SeedSequence(seed, spawn_key=(i, r))``."""
    runs = []
    for i, policy in enumerate(policies):
        for r in range(n_replications):
            ss = np.random.SeedSequence(seed, spawn_key=(i, r))
            study = simulate_snapshots(config, policy, alignment, np.random.default_rng(ss))
            att = attribute_policy(
                study.data, 0, None, floor=floor, targets=policies, method=method
            )
            runs.append(_run_row(policy, r, att))
    return confusion_from_runs(pd.DataFrame(runs), policies)


def _run_row(policy: str, replication: int, att: Attribution) -> dict:
    top = att.table.loc[att.table["target"] == att.winner].iloc[0]
    return {
        "true": policy,
        "replication": replication,
        "attributed": att.winner,
        "margin": att.margin,
        "weight": float(top["weight"]),
    }
