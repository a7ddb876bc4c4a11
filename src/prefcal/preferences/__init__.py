"""Listening preferences (STUDY.md section 6.1).

* :func:`window_features` / :func:`taste_window_features`: content-type and taste-type
  distributions over windows before request times and with exponential decay (vectorised), with
  per-request reference implementations ``*_naive``;
* :func:`context_profiles`: per user x (hour block, weekday/weekend, device class) profiles with
  empirical-Bayes Dirichlet shrinkage, a :class:`ContextProfiles` with a vectorised lookup;
* :func:`user_descriptors`: entropy, generalist-specialist score, repeat share, habit score,
  user-initiated share;
* :func:`profile_error` / :func:`paired_bootstrap_profile_error`: error against true profiles.

:class:`PreferenceParams` reads the config's ``preferences:`` section (plus ``analysis.hour_blocks``
and ``ingest.min_ms_played``).
"""

from prefcal.preferences.context import (
    ContextCounts,
    ContextProfiles,
    context_counts,
    context_profiles,
    crossfit_strength,
    estimate_strength,
    profiles_from_counts,
)
from prefcal.preferences.descriptors import entropy_bits, user_descriptors
from prefcal.preferences.params import PreferenceParams
from prefcal.preferences.profile_error import (
    js_distance_rows,
    paired_bootstrap_profile_error,
    profile_error,
)
from prefcal.preferences.windows import (
    taste_window_features,
    taste_window_features_naive,
    window_features,
    window_features_naive,
)

__all__ = [
    "ContextCounts",
    "ContextProfiles",
    "PreferenceParams",
    "context_counts",
    "context_profiles",
    "profiles_from_counts",
    "crossfit_strength",
    "entropy_bits",
    "estimate_strength",
    "js_distance_rows",
    "paired_bootstrap_profile_error",
    "profile_error",
    "taste_window_features",
    "taste_window_features_naive",
    "user_descriptors",
    "window_features",
    "window_features_naive",
]
