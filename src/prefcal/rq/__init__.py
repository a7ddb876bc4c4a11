"""The research-question analysis (STUDY.md sections 1 and 7): is the *type* of what Spotify
recommends based on the user's usual listening preferences?

Input: recommendation snapshot tables (one per type dimension) in the contract of
:mod:`prefcal.rq.contract`. Output: a tidy table of H1-H6 (effect sizes with bootstrap CIs first,
permutation / mixed-model p-values with Benjamini-Hochberg second), a policy attribution with its
validation on simulated data, and the H1 false-positive rate and power curves.

Modules: ``contract`` (table -> arrays), ``divergence`` (JS and multinomial log-likelihood),
``resampling`` (vectorised permutation / sign-flip / bootstrap), ``multiple`` (BH), ``mixed``
(random-intercept models), ``hypotheses`` (H1-H6, :func:`analyse`), ``overlap`` (H6: track and
taste-cluster overlap matrices from the Home impressions), ``attribution`` (calibrated / level
models, held-out likelihood, one-SE rule), ``home_validation`` (the attribution on Home logs
served by each known policy; imported on demand, it needs :mod:`prefcal.home`), ``power``,
``synthetic`` (snapshots from known policies), ``settings`` (the ``rq:`` config section).
"""

from prefcal.rq.attribution import (
    Attribution,
    Confusion,
    attribute_policy,
    attribution_confusion,
    calibrated_probs,
    fit_calibration,
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
from prefcal.rq.overlap import OverlapMatrices, overlap_matrices, read_overlap_matrices
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
    "OverlapMatrices",
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
    "calibrated_probs",
    "cross_js_matrix",
    "entropy_bits_rows",
    "fit_calibration",
    "fit_weight",
    "h1_null_rate",
    "h1_p_value",
    "h1_power_curve",
    "js_rows",
    "multinomial_loglik_rows",
    "overlap_matrices",
    "random_intercept_fit",
    "read_overlap_matrices",
    "run_hypotheses",
    "simulate_snapshots",
    "snapshot_data",
    "snapshot_divergences",
    "user_mean",
]
