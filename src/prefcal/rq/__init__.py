"""The research-question analysis (STUDY.md sections 1 and 7): is the *type* of what Spotify
recommends based on the user's usual listening preferences?

Input: recommendation snapshot tables (one per type dimension) in the contract of
:mod:`prefcal.rq.contract`. Output: a tidy table of H1-H6 (effect sizes with bootstrap CIs first,
permutation / mixed-model p-values with Benjamini-Hochberg second), a policy attribution with its
validation on simulated data, and the H1 false-positive rate and power curves.

Modules: ``contract`` (table -> arrays), ``divergence`` (JS and multinomial log-likelihood),
``resampling`` (vectorised permutation / sign-flip / bootstrap), ``multiple`` (BH), ``mixed``
(random-intercept models), ``hypotheses`` (H1-H6, :func:`analyse`), ``attribution``, ``power``,
``synthetic`` (snapshots from known policies), ``settings`` (the ``rq:`` config section).
"""

from prefcal.rq.attribution import (
    Attribution,
    Confusion,
    attribute_policy,
    attribution_confusion,
    fit_weight,
)
from prefcal.rq.contract import (
    TARGETS,
    SnapshotData,
    SnapshotTableError,
    snapshot_data,
    user_mean,
)
from prefcal.rq.divergence import (
    cross_js_matrix,
    entropy_bits_rows,
    js_rows,
    multinomial_loglik_rows,
    snapshot_divergences,
)
from prefcal.rq.hypotheses import HYPOTHESES, RESULT_COLUMNS, RQResults, analyse, run_hypotheses
from prefcal.rq.mixed import MixedFit, random_intercept_fit
from prefcal.rq.multiple import benjamini_hochberg
from prefcal.rq.power import NullRate, h1_null_rate, h1_p_value, h1_power_curve
from prefcal.rq.settings import NullSettings, PowerSettings, RQSettings
from prefcal.rq.synthetic import POLICIES, SyntheticConfig, SyntheticStudy, simulate_snapshots

__all__ = [
    "HYPOTHESES",
    "POLICIES",
    "RESULT_COLUMNS",
    "TARGETS",
    "Attribution",
    "Confusion",
    "MixedFit",
    "NullRate",
    "NullSettings",
    "PowerSettings",
    "RQResults",
    "RQSettings",
    "SnapshotData",
    "SnapshotTableError",
    "SyntheticConfig",
    "SyntheticStudy",
    "analyse",
    "attribute_policy",
    "attribution_confusion",
    "benjamini_hochberg",
    "cross_js_matrix",
    "entropy_bits_rows",
    "fit_weight",
    "h1_null_rate",
    "h1_p_value",
    "h1_power_curve",
    "js_rows",
    "multinomial_loglik_rows",
    "random_intercept_fit",
    "run_hypotheses",
    "simulate_snapshots",
    "snapshot_data",
    "snapshot_divergences",
    "user_mean",
]
