"""The ``home:`` config section as a typed, validated object (every choice of the environment).

:func:`home_settings` reads ``config["home"]`` plus the simulation period (``simulation.days``,
``simulation.start_date``) and the study ``seed``; the JSON schema already checks types and ranges,
this module adds the checks that need several keys at once (a pool smaller than the slate, a test
window longer than the log period, ...) and names the key in every error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from prefcal.simulate.model import CONTENT_TYPES

__all__ = ["HomeSettings", "home_settings"]

TYPE_PREFERENCES = ("stream_mix", "preference")


@dataclass(frozen=True)
class HomeSettings:
    """Validated Home environment settings (see ``config/config.yaml`` for each meaning)."""

    seed: int
    days: int
    start_date: str
    log_days: int
    test_days: int
    requests_per_user: int
    ab_requests_per_user: int
    slate_size: int
    pool_sizes: tuple[int, int, int]
    ranker_noise: float
    examination_decay: float
    engagement: float
    type_preference: str
    stream_intercept: float
    stream_off_intent: float
    stream_fit_weight: float
    return_base_scale: float
    return_stream_weight: float
    return_podcast_weight: float
    lam: float
    alpha: float
    arm_step: float
    logging_epsilon: float
    logging_window: int
    windows: tuple[int, ...]
    profile_days: int
    profile_shrinkage: float
    profile_bandwidth: float

    @property
    def n_types(self) -> int:
        """G: the content types music, podcast, audiobook."""
        return len(CONTENT_TYPES)

    @property
    def n_actions(self) -> int:
        """J = G K: the slate builders only ever show one of the top K items of each type."""
        return self.n_types * self.slate_size

    @property
    def log_start_day(self) -> int:
        """First day (days since ``start_date``) of the Home-log period."""
        return self.days - self.log_days

    @property
    def test_start_day(self) -> int:
        """First held-out day; requests before it train the policies."""
        return self.days - self.test_days

    def with_overrides(self, **changes: Any) -> HomeSettings:
        """A copy with some fields changed (sensitivity runs), validated again."""
        out = replace(self, **changes)
        _check(out)
        return out


def _check(s: HomeSettings) -> None:
    if s.log_days > s.days:
        raise ValueError(
            f"config key home.log_days: {s.log_days} exceeds simulation.days = {s.days}"
        )
    if not 0 < s.test_days < s.log_days:
        raise ValueError(
            f"config key home.test_days: {s.test_days} must lie in 1..log_days - 1 "
            f"(log_days = {s.log_days})"
        )
    for name, size in zip(CONTENT_TYPES, s.pool_sizes, strict=True):
        if size < s.slate_size:
            raise ValueError(
                f"config key home.pool_sizes.{name}: {size} candidates cannot fill a slate of "
                f"home.slate_size = {s.slate_size} items of one type"
            )
    if s.type_preference not in TYPE_PREFERENCES:
        raise ValueError(
            f"config key home.type_preference: {s.type_preference!r} is not one of "
            f"{list(TYPE_PREFERENCES)}"
        )
    m = round(1.0 / s.arm_step)
    if m < 1 or abs(m * s.arm_step - 1.0) > 1e-9:
        raise ValueError(f"config key home.arm_step: {s.arm_step} is not 1/m for an integer m")
    if s.return_stream_weight + s.return_podcast_weight > 1.0:
        raise ValueError(
            "config keys home.return_model.stream_weight + podcast_weight must be <= 1 "
            "(the next-day return probability must stay <= 1)"
        )
    if not 0 <= s.return_base_scale <= 1:
        raise ValueError("config key home.return_model.base_scale must lie in [0, 1]")
    if not 0 < s.engagement <= 1:
        raise ValueError(f"config key home.engagement: {s.engagement} must lie in (0, 1]")
    if not 0 <= s.lam <= 1:
        raise ValueError(f"config key home.lam: {s.lam} must lie in [0, 1]")
    if not 0 <= s.logging_epsilon <= 1:
        raise ValueError(f"config key home.logging.epsilon: {s.logging_epsilon} not in [0, 1]")
    if s.logging_window not in s.windows:
        raise ValueError(
            f"config key home.logging.history_window: {s.logging_window} must be one of "
            f"home.features.windows = {list(s.windows)}"
        )


def home_settings(config: Mapping[str, Any]) -> HomeSettings:
    """:class:`HomeSettings` from a full (or partial: seed, simulation, home) config."""
    for key in ("seed", "simulation", "home"):
        if key not in config:
            raise ValueError(f"config key {key}: missing (stage 04 needs seed, simulation, home)")
    h = config["home"]
    sim = config["simulation"]
    try:
        s = HomeSettings(
            seed=int(config["seed"]),
            days=int(sim["days"]),
            start_date=str(sim["start_date"]),
            log_days=int(h["log_days"]),
            test_days=int(h["test_days"]),
            requests_per_user=int(h["requests_per_user"]),
            ab_requests_per_user=int(h["ab_requests_per_user"]),
            slate_size=int(h["slate_size"]),
            pool_sizes=tuple(int(h["pool_sizes"][t]) for t in CONTENT_TYPES),
            ranker_noise=float(h["ranker_noise"]),
            examination_decay=float(h["examination_decay"]),
            engagement=float(h["engagement"]),
            type_preference=str(h["type_preference"]),
            stream_intercept=float(h["stream_model"]["intercept"]),
            stream_off_intent=float(h["stream_model"]["off_intent_penalty"]),
            stream_fit_weight=float(h["stream_model"]["fit_weight"]),
            return_base_scale=float(h["return_model"]["base_scale"]),
            return_stream_weight=float(h["return_model"]["stream_weight"]),
            return_podcast_weight=float(h["return_model"]["podcast_weight"]),
            lam=float(h["lam"]),
            alpha=float(h["alpha"]),
            arm_step=float(h["arm_step"]),
            logging_epsilon=float(h["logging"]["epsilon"]),
            logging_window=int(h["logging"]["history_window"]),
            windows=tuple(int(w) for w in h["features"]["windows"]),
            profile_days=int(h["features"]["profile_days"]),
            profile_shrinkage=float(h["features"]["profile_shrinkage"]),
            profile_bandwidth=float(h["features"]["profile_bandwidth"]),
        )
    except KeyError as exc:
        raise ValueError(f"config key home: missing {exc.args[0]!r}") from None
    _check(s)
    return s
