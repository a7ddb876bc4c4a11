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
``synthetic`` (snapshots from known policies), ``settings`` (the ``rq:`` config section),
``shards`` (per-shard summaries and their merge: stage 05 never holds more than one shard's
streams), ``subsample`` (seeded user subsamples of the steps that grow faster than the study),
``cli`` (``prefcal rq snapshots``, one job per shard). Names are imported on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

# name -> submodule: imported on first use (PEP 562), so that `prefcal rq` and the other CLI
# commands do not pay for statsmodels and scipy at start-up.
_LAZY = {
    "Attribution": "prefcal.rq.attribution",
    "Confusion": "prefcal.rq.attribution",
    "HYPOTHESES": "prefcal.rq.hypotheses",
    "MixedFit": "prefcal.rq.mixed",
    "NullRate": "prefcal.rq.power",
    "NullSettings": "prefcal.rq.settings",
    "OverlapMatrices": "prefcal.rq.overlap",
    "POLICIES": "prefcal.rq.synthetic",
    "PowerSettings": "prefcal.rq.settings",
    "RESULT_COLUMNS": "prefcal.rq.hypotheses",
    "RQResults": "prefcal.rq.hypotheses",
    "RQSettings": "prefcal.rq.settings",
    "SnapshotData": "prefcal.rq.contract",
    "SnapshotTableError": "prefcal.rq.contract",
    "SyntheticConfig": "prefcal.rq.synthetic",
    "SyntheticStudy": "prefcal.rq.synthetic",
    "TARGETS": "prefcal.rq.contract",
    "analyse": "prefcal.rq.hypotheses",
    "attribute_policy": "prefcal.rq.attribution",
    "attribution_confusion": "prefcal.rq.attribution",
    "benjamini_hochberg": "prefcal.rq.multiple",
    "calibrated_probs": "prefcal.rq.attribution",
    "cross_js_matrix": "prefcal.rq.divergence",
    "entropy_bits_rows": "prefcal.rq.divergence",
    "fit_calibration": "prefcal.rq.attribution",
    "fit_weight": "prefcal.rq.attribution",
    "h1_null_rate": "prefcal.rq.power",
    "h1_p_value": "prefcal.rq.power",
    "h1_power_curve": "prefcal.rq.power",
    "js_rows": "prefcal.rq.divergence",
    "multinomial_loglik_rows": "prefcal.rq.divergence",
    "overlap_matrices": "prefcal.rq.overlap",
    "random_intercept_fit": "prefcal.rq.mixed",
    "read_overlap_matrices": "prefcal.rq.overlap",
    "run_hypotheses": "prefcal.rq.hypotheses",
    "simulate_snapshots": "prefcal.rq.synthetic",
    "snapshot_data": "prefcal.rq.contract",
    "snapshot_divergences": "prefcal.rq.divergence",
    "user_mean": "prefcal.rq.contract",
}

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


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'prefcal.rq' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
