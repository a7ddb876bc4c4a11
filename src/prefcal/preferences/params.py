"""The config values the preference functions take, read from the study config in one place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from prefcal.preferences.context import DEFAULT_DEVICE_CLASSES

#: ``preferences.evaluation_time``: one ``t_eval`` for the study, or one per participant
EVALUATION_TIMES = ("study", "per_participant")


@dataclass(frozen=True)
class PreferenceParams:
    """``preferences:`` section plus ``analysis.hour_blocks`` and ``ingest.min_ms_played``."""

    windows: tuple[float, ...] = (7, 28, 90)
    half_lives: tuple[float, ...] = (7, 30)
    types: tuple[str, ...] = ("music", "podcast", "audiobook")
    weight: str = "count"
    exclude_skips: bool = False
    fallback: str = "nan"
    time_column: str = "ts_end"
    evaluation_time: str = "study"
    context_time_column: str = "t_play"
    timezone: str = "UTC"
    device_classes: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_DEVICE_CLASSES))
    shrinkage: str = "crossfit"
    habit_hours: tuple[int, int] = (5, 10)
    user_initiated_reasons: tuple[str, ...] = ("clickrow", "playbtn")
    n_bootstrap: int = 2000
    shrinkage_max_users: int | None = 10_000
    hour_blocks: tuple[int, ...] = (0, 6, 10, 14, 18, 22)
    min_ms_played: int = 30_000

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> PreferenceParams:
        """From the whole (validated) study config."""
        if "preferences" not in config:
            raise ValueError("config has no 'preferences' section")
        p = dict(config["preferences"])
        names = set(cls.__dataclass_fields__)
        unknown = sorted(set(p) - names)
        if unknown:
            raise ValueError(f"config key preferences.{unknown[0]} is not a preference parameter")
        for key in ("windows", "half_lives", "types", "habit_hours", "user_initiated_reasons"):
            if key in p:
                p[key] = tuple(p[key])
        if "analysis" in config and "hour_blocks" in config["analysis"]:
            p["hour_blocks"] = tuple(config["analysis"]["hour_blocks"])
        if "ingest" in config and "min_ms_played" in config["ingest"]:
            p["min_ms_played"] = int(config["ingest"]["min_ms_played"])
        out = cls(**p)
        if out.evaluation_time not in EVALUATION_TIMES:
            raise ValueError(
                f"config key preferences.evaluation_time: {out.evaluation_time!r} is not one of "
                f"{list(EVALUATION_TIMES)}"
            )
        return out

    def window_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`prefcal.preferences.window_features`."""
        return {
            "windows": self.windows,
            "half_life": self.half_lives,
            "types": self.types,
            "weight": self.weight,
            "exclude_skips": self.exclude_skips,
            "min_ms_played": self.min_ms_played,
            "time_column": self.time_column,
            "fallback": self.fallback,
        }

    def context_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`prefcal.preferences.context_profiles`."""
        return {
            "hour_blocks": self.hour_blocks,
            "types": self.types,
            "device_classes": dict(self.device_classes),
            "timezone": self.timezone,
            "time_column": self.context_time_column,
            "min_ms_played": self.min_ms_played,
            "exclude_skips": self.exclude_skips,
            "method": self.shrinkage,
        }

    def descriptor_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`prefcal.preferences.user_descriptors`."""
        return {
            "types": self.types,
            "min_ms_played": self.min_ms_played,
            "exclude_skips": self.exclude_skips,
            "timezone": self.timezone,
            "time_column": self.context_time_column,
            "before_column": self.time_column,
            "habit_hours": self.habit_hours,
            "user_initiated_reasons": self.user_initiated_reasons,
        }
