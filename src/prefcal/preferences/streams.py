"""The plays that count for preferences, and timestamps as integer milliseconds.

A stream of the canonical ``streams`` table (:mod:`prefcal.tables`) *counts* when

* ``ms_played >= min_ms_played`` (30 s by default, ``ingest.min_ms_played``),
* ``content_type`` is one of ``types`` (by default music, podcast, audiobook: ``video`` and
  ``unknown`` are left out),
* and, with ``exclude_skips``, ``skipped`` is not true (null = not known to be skipped, kept).

Its weight is 1 (``weight="count"``) or ``ms_played`` (``weight="ms_played"``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

DEFAULT_TYPES = ("music", "podcast", "audiobook")
WEIGHTS = ("count", "ms_played")
MS_PER_DAY = 86_400_000


def require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    """Raise a ValueError naming the missing columns of ``frame``."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} table lacks column(s) {missing}")


def to_epoch_ms(values: pd.Series | np.ndarray, what: str = "timestamp") -> np.ndarray:
    """Milliseconds since 1970-01-01 UTC as int64; naive timestamps are taken as UTC."""
    s = values if isinstance(values, pd.Series) else pd.Series(values)
    if s.isna().any():
        row = int(np.flatnonzero(s.isna().to_numpy())[0])
        raise ValueError(f"{what} is missing (NaT) at row {row}")
    try:
        s = pd.to_datetime(s, utc=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must hold timestamps ({exc})") from exc
    return s.dt.tz_localize(None).to_numpy().astype("datetime64[ms]").astype(np.int64)


def check_weight(weight: str) -> None:
    """Raise if ``weight`` is not one of :data:`WEIGHTS`."""
    if weight not in WEIGHTS:
        raise ValueError(f"preferences.weight must be one of {list(WEIGHTS)}, got {weight!r}")


def qualifying_mask(
    streams: pd.DataFrame,
    *,
    types: Sequence[str] = DEFAULT_TYPES,
    min_ms_played: int = 30_000,
    exclude_skips: bool = False,
) -> np.ndarray:
    """Boolean mask of the streams that count (module doc)."""
    cols = ["ms_played", "content_type"] + (["skipped"] if exclude_skips else [])
    require_columns(streams, cols, "streams")
    mask = (streams["ms_played"].to_numpy() >= min_ms_played) & streams["content_type"].isin(
        list(types)
    ).to_numpy()
    if exclude_skips:
        mask &= ~streams["skipped"].fillna(False).to_numpy(dtype=bool)
    return mask


def stream_weights(streams: pd.DataFrame, weight: str) -> np.ndarray:
    """Per-stream weight: 1.0 (``count``) or ``ms_played`` as float."""
    check_weight(weight)
    if weight == "count":
        return np.ones(len(streams))
    return streams["ms_played"].to_numpy(dtype=np.float64)


def type_codes(content_type: pd.Series, types: Sequence[str]) -> np.ndarray:
    """Index of each stream's content type in ``types`` (-1 if not listed)."""
    codes, uniques = pd.factorize(content_type)
    lookup = pd.Index(list(types)).get_indexer(pd.Index(uniques, dtype=object))
    return np.where(codes >= 0, lookup[codes] if lookup.size else -1, -1)
