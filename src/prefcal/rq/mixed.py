"""Linear mixed models with a random intercept per user (statsmodels MixedLM) for H3 and H4.

Model for snapshot s of user u:

.. math:: y_{us} = x_{us}^\\top \\beta + b_u + e_{us}, \\qquad b_u \\sim N(0, \\sigma_b^2),\\;
          e_{us} \\sim N(0, \\sigma^2),

fitted by REML. The random intercept absorbs that snapshots of one user are correlated, so the
fixed effects' standard errors are not overconfident. CIs are Wald intervals
``beta_k +/- z_{1-(1-level)/2} se_k``, p-values the two-sided Wald z tests that statsmodels reports.
Rows with a non-finite response or covariate are dropped (counted in ``n_obs``).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.regression.mixed_linear_model import MixedLM

__all__ = ["MixedFit", "random_intercept_fit"]


@dataclass(frozen=True)
class MixedFit:
    """Fixed effects (one row per term: estimate, se, ci_low, ci_high, p_value), the random
    intercept's variance ``group_var``, the residual variance ``scale``, sizes, and whether the
    optimiser converged (``note`` holds statsmodels' warnings, if any)."""

    fixed: pd.DataFrame
    group_var: float
    scale: float
    n_obs: int
    n_groups: int
    converged: bool
    note: str


def random_intercept_fit(
    y: np.ndarray,
    covariates: np.ndarray | None,
    groups: np.ndarray,
    names: Sequence[str] = (),
    level: float = 0.95,
) -> MixedFit:
    """Fit ``y ~ 1 + covariates + (1 | groups)`` by REML.

    ``y`` (S,), ``covariates`` (S, k) or None (intercept only), ``groups`` (S,) user ids; ``names``
    labels the k covariates (the intercept is ``intercept``).
    """
    y = np.asarray(y, dtype=np.float64)
    x = np.ones((y.size, 1))
    if covariates is not None:
        cov = np.asarray(covariates, dtype=np.float64).reshape(y.size, -1)
        x = np.column_stack([x, cov])
    terms = ["intercept", *names]
    if len(terms) != x.shape[1]:
        raise ValueError(f"names must label the {x.shape[1] - 1} covariates, got {list(names)}")
    ok = np.isfinite(y) & np.isfinite(x).all(axis=1)
    y, x, g = y[ok], x[ok], np.asarray(groups)[ok]
    n_groups = int(np.unique(g).size)
    empty = pd.DataFrame(
        {
            "term": terms,
            "estimate": np.nan,
            "se": np.nan,
            "ci_low": np.nan,
            "ci_high": np.nan,
            "p_value": np.nan,
        }
    )
    if n_groups < 2 or y.size <= x.shape[1] + 1:
        return MixedFit(
            empty, np.nan, np.nan, int(y.size), n_groups, False, "too few users or rows"
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = MixedLM(y, x, groups=g).fit(reml=True)
        except (np.linalg.LinAlgError, ValueError) as err:
            return MixedFit(empty, np.nan, np.nan, int(y.size), n_groups, False, f"failed: {err}")
    k = x.shape[1]
    est = np.asarray(res.fe_params, dtype=np.float64)
    se = np.asarray(res.bse_fe, dtype=np.float64)
    z = stats.norm.ppf(0.5 + level / 2)
    fixed = pd.DataFrame(
        {
            "term": terms,
            "estimate": est,
            "se": se,
            "ci_low": est - z * se,
            "ci_high": est + z * se,
            "p_value": np.asarray(res.pvalues, dtype=np.float64)[:k],
        }
    )
    note = "; ".join(sorted({str(w.message).splitlines()[0] for w in caught}))
    return MixedFit(
        fixed=fixed,
        group_var=float(np.asarray(res.cov_re).ravel()[0]),
        scale=float(res.scale),
        n_obs=int(y.size),
        n_groups=n_groups,
        converged=bool(res.converged),
        note=note,
    )
