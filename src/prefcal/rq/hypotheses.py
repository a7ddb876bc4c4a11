"""The hypotheses H1-H6 of STUDY.md section 7: effect sizes with bootstrap CIs, then p-values.

Notation: snapshot ``s`` of user ``u``, ``q_s`` its recommended type distribution,
``D_T(s) = JS(q_s, p_T,s)`` (bits, :func:`prefcal.rq.divergence.js_rows`) for target ``T``, and
``mean_u`` the mean over users of per-user means over their snapshots (every user weighs the same;
NaN snapshots - undefined targets - are left out of the user's mean, users with none are left out).
All bootstrap CIs resample users with replacement (percentile, ``ci_level``); all permutation
p-values count the observed statistic as a draw (:mod:`prefcal.rq.resampling`).

* **H1** (own history closer than other users'). Effect ``mean_u [D_other(u) - D_own(u)]`` with
  ``D[u, v]`` = mean over u's snapshots of ``JS(q_s, pbar_v)``, ``pbar_v`` = v's hist_90 averaged
  over v's snapshots, own = ``D[u, u]``, other = mean of ``D[u, v != u]``. p: permutation of the
  user <-> target assignment (one-sided: own closer); exact under a recommender that ignores
  preferences (users i.i.d., recommendations independent of whose target is whose).
* **H2** (own history closer than the popularity mix). ``mean_u [D_popularity - D_hist_90]``;
  sign flip over users (one-sided).
* **H3** (short- vs long-term history). ``mean_u [D_hist_90 - D_hist_7]`` (> 0: the 7-day history
  explains better); p: mixed model ``d_s ~ 1 + (1|u)``, Wald z on the intercept (two-sided).
* **H4** (the gap changes with diversity). OLS slope over users of the mean gap
  (``gap = D_popularity - D_hist_90``) on the standardised diversity ``z_u`` (entropy or
  gs_score); p: mixed model ``gap_s ~ 1 + z_u + (1|u)``, Wald z on the slope (two-sided).
* **H5** (context-dependent target better than the static one). ``mean_u [D_hist_90 -
  D_context]``; sign flip over users (one-sided).
* **H6** (recommendations extend taste: low track overlap, high cluster overlap with history).
  On Home logs (:mod:`prefcal.rq.overlap`): with ``T[u, v]`` the track overlap and ``C[u, v]`` the
  taste-cluster overlap of u's recommended tracks with v's history, the *excess* of a user over a
  preference-free recommender (one that serves u the slates of another user) is
  ``x(u) = M[u, u] - mean_{v != u} M[u, v]``. Effect ``mean_u [x_C(u) - x_T(u)]``: how much more
  the recommendations match the user's taste clusters than the user's own tracks, both beyond
  chance. p: permutation of the user <-> history assignment on ``M = C - T`` (one-sided, exact
  as for H1). The details hold the own overlap, the reference and the excess of each of ``T`` and
  ``C`` with bootstrap CIs. Without overlap matrices (synthetic snapshots) H6 falls back to the
  snapshot columns: ``mean_u [cluster_overlap - item_overlap]``, sign flip over users.

The ``details`` table keeps what else was computed: the mixed models' fixed effects and variances,
the sign-flip p of H3 and the permutation p of H4's OLS slope, and the H1 own/other means. A note
on the fallback H6: when ``cluster_overlap`` counts items whose cluster the user streamed, an item
the user streamed always counts, so ``cluster_overlap >= item_overlap`` per snapshot and that
effect is descriptive (how far beyond known items, within known tastes, the slate goes).

:func:`analyse` runs all hypotheses for each type dimension, then adjusts p-values with
Benjamini-Hochberg across every tested row of the table (H1-H5 per dimension, H6 once).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from prefcal.rq.contract import SnapshotData, tables_from_mapping, user_mean
from prefcal.rq.divergence import (
    cross_js_factors,
    cross_js_matrix,
    entropy_bits_rows,
    js_rows,
)
from prefcal.rq.mixed import MixedFit, random_intercept_fit
from prefcal.rq.multiple import benjamini_hochberg
from prefcal.rq.overlap import OverlapMatrices
from prefcal.rq.resampling import (
    assignment_permutation_test,
    assignment_permutation_test_factored,
    bootstrap_mean,
    bootstrap_slope,
    factored_row_own,
    sign_flip_test,
    slope_permutation_test,
)
from prefcal.rq.settings import RQSettings
from prefcal.rq.subsample import MIXED_STREAM, user_subsample

__all__ = [
    "HYPOTHESES",
    "RESULT_COLUMNS",
    "HypothesisResult",
    "RQResults",
    "analyse",
    "h1_own_vs_other",
    "h2_own_vs_popularity",
    "h3_short_vs_long",
    "h4_gap_vs_diversity",
    "h5_context_vs_static",
    "h6_taste_extension",
    "h6_taste_extension_overlap",
    "hypothesis_rng",
    "mixed_subsample",
    "run_hypotheses",
]

HYPOTHESES = ("H1", "H2", "H3", "H4", "H5", "H6")
#: H1 forms the (U, U) divergence matrix up to this many entries, else works on its factors
H1_MATRIX_ELEMENTS = 16_000_000
RESULT_COLUMNS = [
    "dimension",
    "hypothesis",
    "statistic",
    "estimate",
    "ci_low",
    "ci_high",
    "p_value",
    "p_bh",
    "reject",
    "n_users",
    "n_snapshots",
    "test",
    "alternative",
    "note",
]
DETAIL_COLUMNS = [
    "dimension",
    "hypothesis",
    "method",
    "term",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "p_value",
    "n_obs",
    "n_users",
    "converged",
    "note",
]


@dataclass
class HypothesisResult:
    """One row of the results table plus the detail rows behind it."""

    hypothesis: str
    statistic: str
    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    test: str
    alternative: str
    n_users: int
    n_snapshots: int
    note: str = ""
    details: list[dict] = field(default_factory=list)

    def row(self) -> dict:
        return {
            k: getattr(self, k)
            for k in (
                "hypothesis",
                "statistic",
                "estimate",
                "ci_low",
                "ci_high",
                "p_value",
                "test",
                "alternative",
                "n_users",
                "n_snapshots",
                "note",
            )
        }


@dataclass
class RQResults:
    """``results`` (the tidy table, :data:`RESULT_COLUMNS`), ``details``, and the per-dimension
    attribution tables (empty unless :func:`analyse` was asked for them)."""

    results: pd.DataFrame
    details: pd.DataFrame
    attribution: dict[str, pd.DataFrame] = field(default_factory=dict)


def hypothesis_rng(seed: int, dimension: str, hypothesis: str) -> np.random.Generator:
    """The Generator of one (dimension, hypothesis): independent streams, stable across runs."""
    key = (zlib.crc32(dimension.encode()), zlib.crc32(hypothesis.encode()))
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _js(data: SnapshotData, js: Mapping[str, np.ndarray] | None, target: str) -> np.ndarray:
    if js is not None and target in js:
        return js[target]
    return js_rows(data.counts, data.targets[target])


def _detail(method: str, term: str, **kw) -> dict:
    row = {c: np.nan for c in DETAIL_COLUMNS[4:]}
    row.update({"method": method, "term": term, "converged": None, "note": ""})
    row.update(kw)
    return row


def _mixed_details(fit: MixedFit, method: str) -> list[dict]:
    rows = [
        _detail(
            method,
            r.term,
            estimate=r.estimate,
            se=r.se,
            ci_low=r.ci_low,
            ci_high=r.ci_high,
            p_value=r.p_value,
            n_obs=fit.n_obs,
            n_users=fit.n_groups,
            converged=fit.converged,
            note=fit.note,
        )
        for r in fit.fixed.itertuples()
    ]
    for term, value in (("user_intercept_var", fit.group_var), ("residual_var", fit.scale)):
        rows.append(
            _detail(
                method,
                term,
                estimate=value,
                n_obs=fit.n_obs,
                n_users=fit.n_groups,
                converged=fit.converged,
                note=fit.note,
            )
        )
    return rows


def _mixed_rows(data: SnapshotData, mixed_users: np.ndarray | None) -> np.ndarray:
    """Snapshot rows of the users ``mixed_users`` (all rows when None), as a slice or mask."""
    if mixed_users is None:
        return np.ones(data.n_snapshots, dtype=bool)
    keep = np.zeros(data.n_users, dtype=bool)
    keep[np.asarray(mixed_users, dtype=np.intp)] = True
    return keep[data.user]


def _subsample_note(note: str, fit: MixedFit, data: SnapshotData, users: np.ndarray | None) -> str:
    if users is None or np.asarray(users).size >= data.n_users:
        return note
    sub = f"mixed model on a seeded subsample of {fit.n_groups} users"
    return f"{sub}; {note}" if note else sub


def mixed_subsample(data: SnapshotData, max_users: int | None, seed: int) -> np.ndarray | None:
    """User indices of the mixed models (config ``rq.mixed_max_users``): None (every user) when
    ``data`` has at most ``max_users`` users, else :func:`prefcal.rq.subsample.user_subsample`
    (stream :data:`prefcal.rq.subsample.MIXED_STREAM`). statsmodels' MixedLM loops over users in
    Python, so its time grows with them; a few thousand users already give it full power."""
    if max_users is None or data.n_users <= int(max_users):
        return None
    ids = user_subsample(data.participant_ids, max_users, seed, MIXED_STREAM)
    return np.searchsorted(data.participant_ids, ids)


def _paired(
    name: str,
    statistic: str,
    diff: np.ndarray,
    data: SnapshotData,
    n_permutations: int,
    n_bootstrap: int,
    rng: np.random.Generator,
    level: float,
    alternative: str = "greater",
) -> HypothesisResult:
    """Per-user mean of a per-snapshot difference; bootstrap CI first, then sign-flip p."""
    per_user = user_mean(diff, data.user, data.n_users)
    ok = np.isfinite(per_user)
    n_snap = int(np.isfinite(diff).sum())
    if ok.sum() < 2:
        return HypothesisResult(
            name,
            statistic,
            np.nan,
            np.nan,
            np.nan,
            np.nan,
            "sign_flip",
            alternative,
            int(ok.sum()),
            n_snap,
            "fewer than 2 users",
        )
    boot = bootstrap_mean(per_user[ok], n_bootstrap, rng, level)
    test = sign_flip_test(per_user[ok], n_permutations, rng, alternative)
    return HypothesisResult(
        name,
        statistic,
        boot.estimate,
        boot.ci_low,
        boot.ci_high,
        test.p_value,
        "sign_flip",
        alternative,
        int(ok.sum()),
        n_snap,
    )


def h1_own_vs_other(
    data: SnapshotData,
    n_permutations: int,
    n_bootstrap: int,
    rng: np.random.Generator,
    level: float = 0.95,
    target: str = "hist_90",
    max_matrix_elements: int | None = None,
) -> HypothesisResult:
    """H1: recommendations closer to the user's own history than to other users' (see module).

    Up to ``max_matrix_elements`` (None: :data:`H1_MATRIX_ELEMENTS`) entries the ``(U, U)``
    matrix ``D`` is formed; above, the same statistics come from its factors
    (:func:`prefcal.rq.divergence.cross_js_factors`,
    :func:`prefcal.rq.resampling.assignment_permutation_test_factored`): the same draws and the
    same row sums and diagonal, memory linear in the users."""
    pbar = user_mean(data.targets[target], data.user, data.n_users)
    keep = np.flatnonzero(np.isfinite(pbar).all(axis=1))
    stat = "mean_u[D_other - D_own], D = JS(q, mean hist_90)"
    if keep.size < 3:
        return HypothesisResult(
            "H1",
            stat,
            np.nan,
            np.nan,
            np.nan,
            np.nan,
            "assignment_permutation",
            "greater",
            int(keep.size),
            0,
            "fewer than 3 users with a target",
        )
    if keep.size < data.n_users:  # only the counts of the kept users' rows (no full subset copy)
        remap = np.full(data.n_users, -1, dtype=np.intp)
        remap[keep] = np.arange(keep.size)
        rows = remap[data.user] >= 0
        counts, user = data.counts[rows], remap[data.user[rows]]
    else:
        counts, user = data.counts, data.user
    n, n_snap = int(keep.size), int(user.size)
    limit = H1_MATRIX_ELEMENTS if max_matrix_elements is None else int(max_matrix_elements)
    if n * n <= limit:
        d = cross_js_matrix(counts, user, n, pbar[keep])
        own = np.diag(d)
        other = (d.sum(axis=1) - own) / (n - 1)
        boot = bootstrap_mean(other - own, n_bootstrap, rng, level)
        test = assignment_permutation_test(d, n_permutations, rng, "greater")
    else:  # the same numbers without the (U, U) matrix (memory O(U K), K distinct slates)
        w, j = cross_js_factors(counts, user, n, pbar[keep])
        row, own = factored_row_own(w, j)
        other = (row - own) / (n - 1)
        boot = bootstrap_mean(other - own, n_bootstrap, rng, level)
        test = assignment_permutation_test_factored(
            w, j, n_permutations, rng, "greater", row_own=(row, own)
        )
    res = HypothesisResult(
        "H1",
        stat,
        boot.estimate,
        boot.ci_low,
        boot.ci_high,
        test.p_value,
        "assignment_permutation",
        "greater",
        n,
        n_snap,
    )
    res.details = [
        _detail("user_means", "D_own", estimate=float(own.mean()), n_users=n, n_obs=n_snap),
        _detail("user_means", "D_other", estimate=float(other.mean()), n_users=n, n_obs=n_snap),
        _detail("user_means", "share_own_closer", estimate=float(np.mean(own < other)), n_users=n),
    ]
    return res


def h2_own_vs_popularity(
    data: SnapshotData,
    n_permutations: int,
    n_bootstrap: int,
    rng: np.random.Generator,
    level: float = 0.95,
    js: Mapping[str, np.ndarray] | None = None,
) -> HypothesisResult:
    """H2: closer to the own 90-day history than to the popularity mix (paired over users)."""
    diff = _js(data, js, "popularity") - _js(data, js, "hist_90")
    return _paired(
        "H2",
        "mean_u[D_popularity - D_hist_90]",
        diff,
        data,
        n_permutations,
        n_bootstrap,
        rng,
        level,
    )


def h3_short_vs_long(
    data: SnapshotData,
    n_permutations: int,
    n_bootstrap: int,
    rng: np.random.Generator,
    level: float = 0.95,
    js: Mapping[str, np.ndarray] | None = None,
    mixed_users: np.ndarray | None = None,
) -> HypothesisResult:
    """H3: short-term (7-day) vs long-term (90-day) history; > 0 means 7-day explains better.

    ``mixed_users`` (user indices; None = all) restricts the mixed model (the p-value) to a
    subsample of users (:func:`mixed_subsample`); the effect and its CI use every user."""
    diff = _js(data, js, "hist_90") - _js(data, js, "hist_7")
    res = _paired(
        "H3",
        "mean_u[D_hist_90 - D_hist_7]",
        diff,
        data,
        n_permutations,
        n_bootstrap,
        rng,
        level,
        alternative="two-sided",
    )
    flip_p = res.p_value
    rows = _mixed_rows(data, mixed_users)
    fit = random_intercept_fit(diff[rows], None, data.user[rows], level=level)
    res.details = _mixed_details(fit, "mixed_lm: d ~ 1 + (1|user)")
    res.details.append(
        _detail(
            "sign_flip", "mean_u[d]", estimate=res.estimate, p_value=flip_p, n_users=res.n_users
        )
    )
    res.p_value = float(fit.fixed.loc[0, "p_value"])
    res.test = "mixed_lm_wald"
    res.note = "" if fit.converged else f"mixed model: {fit.note or 'did not converge'}"
    res.note = _subsample_note(res.note, fit, data, mixed_users)
    return res


def h4_gap_vs_diversity(
    data: SnapshotData,
    n_permutations: int,
    n_bootstrap: int,
    rng: np.random.Generator,
    level: float = 0.95,
    js: Mapping[str, np.ndarray] | None = None,
    diversity: str = "entropy",
    mixed_users: np.ndarray | None = None,
) -> HypothesisResult:
    """H4: the gap ``D_popularity - D_hist_90`` changes with the user's diversity (slope per SD).

    Diversity is the snapshot column ``entropy`` (or, when absent, ``H(hist_90)`` in bits) or
    ``gs_score``, averaged per user and standardised over users. ``mixed_users`` as for H3 (the
    mixed model's z stays the one standardised over every user).
    """
    if diversity not in ("entropy", "gs_score"):
        raise ValueError(
            f"diversity (config rq.h4_diversity) must be entropy or gs_score, got {diversity!r}"
        )
    stat = f"slope of mean_u[D_popularity - D_hist_90] on z({diversity})"
    if diversity in data.extras:
        div = data.extras[diversity]
    elif diversity == "entropy":
        div = entropy_bits_rows(data.targets["hist_90"])
    else:
        return HypothesisResult(
            "H4",
            stat,
            np.nan,
            np.nan,
            np.nan,
            np.nan,
            "mixed_lm_wald",
            "two-sided",
            0,
            0,
            "no gs_score column",
        )
    gap = _js(data, js, "popularity") - _js(data, js, "hist_90")
    x_u = user_mean(div, data.user, data.n_users)
    y_u = user_mean(gap, data.user, data.n_users)
    ok = np.isfinite(x_u) & np.isfinite(y_u)
    if ok.sum() < 3 or np.nanstd(x_u[ok]) == 0:
        return HypothesisResult(
            "H4",
            stat,
            np.nan,
            np.nan,
            np.nan,
            np.nan,
            "mixed_lm_wald",
            "two-sided",
            int(ok.sum()),
            0,
            "fewer than 3 users or no spread",
        )
    z_u = np.full(data.n_users, np.nan)
    z_u[ok] = (x_u[ok] - x_u[ok].mean()) / x_u[ok].std()
    boot = bootstrap_slope(z_u[ok], y_u[ok], n_bootstrap, rng, level)
    perm = slope_permutation_test(z_u[ok], y_u[ok], n_permutations, rng, "two-sided")
    rows = _mixed_rows(data, mixed_users)
    fit = random_intercept_fit(
        gap[rows], z_u[data.user[rows]], data.user[rows], names=[f"z_{diversity}"], level=level
    )
    n_snap = int((np.isfinite(gap) & np.isfinite(z_u[data.user])).sum())
    res = HypothesisResult(
        "H4",
        stat,
        boot.estimate,
        boot.ci_low,
        boot.ci_high,
        float(fit.fixed.loc[1, "p_value"]),
        "mixed_lm_wald",
        "two-sided",
        int(ok.sum()),
        n_snap,
        "" if fit.converged else f"mixed model: {fit.note or 'did not converge'}",
    )
    res.note = _subsample_note(res.note, fit, data, mixed_users)
    res.details = _mixed_details(fit, f"mixed_lm: gap ~ 1 + z_{diversity} + (1|user)")
    res.details.append(
        _detail(
            "ols_permutation",
            "slope",
            estimate=perm.statistic,
            p_value=perm.p_value,
            n_users=int(ok.sum()),
        )
    )
    return res


def h5_context_vs_static(
    data: SnapshotData,
    n_permutations: int,
    n_bootstrap: int,
    rng: np.random.Generator,
    level: float = 0.95,
    js: Mapping[str, np.ndarray] | None = None,
) -> HypothesisResult:
    """H5: the context-dependent target explains better than the static 90-day one (CB vs SC)."""
    diff = _js(data, js, "hist_90") - _js(data, js, "context")
    return _paired(
        "H5", "mean_u[D_hist_90 - D_context]", diff, data, n_permutations, n_bootstrap, rng, level
    )


def h6_taste_extension(
    data: SnapshotData,
    n_permutations: int,
    n_bootstrap: int,
    rng: np.random.Generator,
    level: float = 0.95,
) -> HypothesisResult:
    """H6: recommendations extend taste: cluster overlap with history exceeds item overlap."""
    stat = "mean_u[cluster_overlap - item_overlap]"
    if "cluster_overlap" not in data.extras or "item_overlap" not in data.extras:
        return HypothesisResult(
            "H6",
            stat,
            np.nan,
            np.nan,
            np.nan,
            np.nan,
            "sign_flip",
            "greater",
            0,
            0,
            "no item_overlap / cluster_overlap columns",
        )
    diff = data.extras["cluster_overlap"] - data.extras["item_overlap"]
    res = _paired("H6", stat, diff, data, n_permutations, n_bootstrap, rng, level)
    for col in ("item_overlap", "cluster_overlap"):
        m = user_mean(data.extras[col], data.user, data.n_users)
        res.details.append(
            _detail(
                "user_means", col, estimate=float(np.nanmean(m)), n_users=int(np.isfinite(m).sum())
            )
        )
    return res


def h6_taste_extension_overlap(
    overlap: OverlapMatrices,
    n_permutations: int,
    n_bootstrap: int,
    rng: np.random.Generator,
    level: float = 0.95,
) -> HypothesisResult:
    """H6 on overlap matrices: excess cluster overlap minus excess track overlap (see module)."""
    stat = "mean_u[excess cluster overlap - excess track overlap], excess = own - other users'"
    n = overlap.n_users
    if n < 3:
        return HypothesisResult(
            "H6",
            stat,
            np.nan,
            np.nan,
            np.nan,
            np.nan,
            "assignment_permutation",
            "greater",
            n,
            0,
            "fewer than 3 users with recommended tracks and history",
        )
    m = overlap.cluster - overlap.track
    own = np.diag(m)
    other = (m.sum(axis=1) - own) / (n - 1)
    boot = bootstrap_mean(own - other, n_bootstrap, rng, level)
    test = assignment_permutation_test(-m, n_permutations, rng, "greater")
    res = HypothesisResult(
        "H6",
        stat,
        boot.estimate,
        boot.ci_low,
        boot.ci_high,
        test.p_value,
        "assignment_permutation",
        "greater",
        n,
        overlap.n_snapshots,
    )
    for name, mat in (("track", overlap.track), ("cluster", overlap.cluster)):
        o = np.diag(mat)
        ref = (mat.sum(axis=1) - o) / (n - 1)
        for term, x in (("own", o), ("reference", ref), ("excess", o - ref)):
            b = bootstrap_mean(x, n_bootstrap, rng, level)
            res.details.append(
                _detail(
                    "overlap",
                    f"{name}_{term}",
                    estimate=b.estimate,
                    ci_low=b.ci_low,
                    ci_high=b.ci_high,
                    n_users=n,
                    n_obs=int(overlap.n_recommended.sum()),
                )
            )
    return res


def run_hypotheses(
    data: SnapshotData,
    settings: RQSettings,
    dimension: str,
    include: tuple[str, ...] = HYPOTHESES,
    overlap: OverlapMatrices | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Results rows (without p_bh / reject) and details for one type dimension; H6 uses
    ``overlap`` when given, else the snapshot columns."""
    js = {
        t: js_rows(data.counts, data.targets[t])
        for t in ("hist_90", "hist_7", "context", "popularity")
    }
    b, p, lv = settings.n_bootstrap, settings.n_permutations, settings.ci_level
    mixed = mixed_subsample(data, settings.mixed_max_users, settings.seed)
    runners = {
        "H1": lambda r: h1_own_vs_other(data, p, b, r, lv),
        "H2": lambda r: h2_own_vs_popularity(data, p, b, r, lv, js),
        "H3": lambda r: h3_short_vs_long(data, p, b, r, lv, js, mixed),
        "H4": lambda r: h4_gap_vs_diversity(data, p, b, r, lv, js, settings.h4_diversity, mixed),
        "H5": lambda r: h5_context_vs_static(data, p, b, r, lv, js),
        "H6": lambda r: (
            h6_taste_extension(data, p, b, r, lv)
            if overlap is None
            else h6_taste_extension_overlap(overlap, p, b, r, lv)
        ),
    }
    rows, details = [], []
    for h in include:
        res = runners[h](hypothesis_rng(settings.seed, dimension, h))
        rows.append({"dimension": dimension, **res.row()})
        details += [{"dimension": dimension, "hypothesis": h, **d} for d in res.details]
    return pd.DataFrame(rows), pd.DataFrame(details, columns=DETAIL_COLUMNS)


def analyse(
    tables: Mapping[str, SnapshotData | pd.DataFrame],
    settings: RQSettings,
    attribution: bool = False,
    overlap: OverlapMatrices | None = None,
) -> RQResults:
    """H1-H5 for every ``dimension -> snapshot table``, H6 once (on ``overlap`` when given, else
    on the first table that has the overlap columns), Benjamini-Hochberg at ``settings.fdr``
    across all rows with a p-value.

    With ``attribution=True`` also :func:`prefcal.rq.attribution.attribute_policy` per dimension
    (``settings.attribution_method``).
    """
    data = tables_from_mapping(tables)
    if not data:
        raise ValueError("analyse needs at least one snapshot table")
    h6_dim = next(
        (d for d, t in data.items() if {"item_overlap", "cluster_overlap"} <= set(t.extras)),
        next(iter(data)),
    )
    frames, details = [], []
    for dim, table in data.items():
        include = HYPOTHESES if dim == h6_dim else HYPOTHESES[:5]
        res, det = run_hypotheses(table, settings, dim, include, overlap if dim == h6_dim else None)
        frames.append(res)
        details.append(det)
    results = pd.concat(frames, ignore_index=True)
    p_bh, reject = benjamini_hochberg(results["p_value"].to_numpy(dtype=float), settings.fdr)
    results["p_bh"] = p_bh
    results["reject"] = reject
    out = RQResults(results[RESULT_COLUMNS], pd.concat(details, ignore_index=True))
    if attribution:
        from prefcal.rq.attribution import attribute_policy

        for dim, table in data.items():
            rng = hypothesis_rng(settings.seed, dim, "attribution")
            out.attribution[dim] = attribute_policy(
                table,
                settings.n_bootstrap,
                rng,
                settings.ci_level,
                settings.ll_floor,
                method=settings.attribution_method,
            ).table
    return out
