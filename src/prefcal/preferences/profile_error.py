"""Error of estimated context profiles against the true ones (simulated data).

For a (user, context) cell with true type distribution ``p`` and estimate ``q``:

    JSD(p, q) = 1/2 KL(p || m) + 1/2 KL(q || m),   m = (p + q) / 2,   logs base 2 (0 log 0 = 0),

and the Jensen-Shannon *distance* is ``sqrt(JSD)`` in [0, 1]. :func:`profile_error` is the mean
distance over the cells of ``truth``. :func:`paired_bootstrap_profile_error` compares two
estimators on the same cells: the statistic is ``error_a - error_b`` and its percentile CI comes
from resampling *users* with replacement (cells of a user stay together; each replicate is the
cell-weighted mean over the resampled users), with a seeded :class:`numpy.random.Generator`.

``truth`` is a tidy long table with ``participant_id, hour_block, day_type, device_class,
content_type`` and a share column (``share`` by default); the estimate is a
:class:`~prefcal.preferences.context.ContextProfiles` (looked up at the truth's cells) or a tidy
table with the same key columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from prefcal.preferences.context import DAY_TYPES, ContextProfiles, hour_block_index

CELL_KEYS = ("participant_id", "hour_block", "day_type", "device_class")


def js_distance_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Row-wise Jensen-Shannon distance (base 2) between distributions ``p`` and ``q``."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.shape != q.shape:
        raise ValueError("p and q must have the same shape")
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore", invalid="ignore"):
        kp = np.where(p > 0, p * np.log2(p / m), 0.0).sum(axis=-1)
        kq = np.where(q > 0, q * np.log2(q / m), 0.0).sum(axis=-1)
    return np.sqrt(np.clip(0.5 * (kp + kq), 0.0, 1.0))


def _wide(frame: pd.DataFrame, col: str, types: list[str], what: str) -> pd.DataFrame:
    need = [*CELL_KEYS, "content_type", col]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} table lacks column(s) {missing}")
    wide = frame.pivot_table(
        index=list(CELL_KEYS), columns="content_type", values=col, aggfunc="sum", fill_value=0.0
    )
    return wide.reindex(columns=types, fill_value=0.0)


def _cell_index(
    keys: pd.DataFrame, profiles: ContextProfiles
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hour-block index, weekend flag and device-class index of the truth's cells ``keys``
    (columns of :data:`CELL_KEYS`) in ``profiles``; a cell outside their grid is an error."""
    blocks = np.asarray(profiles.hour_blocks)
    bidx = np.searchsorted(blocks, keys["hour_block"].to_numpy())
    bad = (bidx >= blocks.size) | (blocks[np.minimum(bidx, blocks.size - 1)] != keys["hour_block"])
    if bad.any():
        raise ValueError(
            f"truth hour_block {keys['hour_block'][bad].iloc[0]!r} is not a block start of "
            f"{list(blocks)}"
        )
    bidx = hour_block_index(keys["hour_block"].to_numpy(), profiles.hour_blocks)
    weekend = keys["day_type"].map({DAY_TYPES[0]: 0, DAY_TYPES[1]: 1})
    if weekend.isna().any():
        raise ValueError(f"truth day_type must be one of {list(DAY_TYPES)}")
    dclass = pd.Index(profiles.classes).get_indexer(keys["device_class"])
    if np.any(dclass < 0):
        raise ValueError(
            f"truth device_class {keys['device_class'][dclass < 0].iloc[0]!r} is not one of "
            f"{list(profiles.classes)}"
        )
    return bidx, weekend.to_numpy(), dclass


def _cell_distances(
    estimated: ContextProfiles | pd.DataFrame,
    truth: pd.DataFrame,
    *,
    share_col: str,
    est_col: str,
    kind: str,
) -> pd.DataFrame:
    if isinstance(estimated, ContextProfiles):
        types = list(estimated.types)
    else:
        types = sorted(set(truth["content_type"]) | set(estimated["content_type"]))
    t = _wide(truth, share_col, types, "truth")
    keys = t.index.to_frame(index=False)
    if isinstance(estimated, ContextProfiles):
        bidx, weekend, dclass = _cell_index(keys, estimated)
        est = estimated.lookup(keys["participant_id"].to_numpy(), bidx, weekend, dclass, kind=kind)
    else:
        e = _wide(estimated, est_col, types, "estimated")
        missing = ~t.index.isin(e.index)
        if missing.any():
            raise ValueError(f"estimated table lacks the truth cell {t.index[missing][0]!r}")
        est = e.reindex(t.index).to_numpy()
    out = keys.copy()
    out["js_distance"] = js_distance_rows(t.to_numpy(), est)
    return out


def profile_error(
    estimated: ContextProfiles | pd.DataFrame,
    truth: pd.DataFrame,
    *,
    share_col: str = "share",
    est_col: str = "shrunk_share",
    kind: str = "shrunk",
) -> float:
    """Mean Jensen-Shannon distance (base 2) over the (user, context) cells of ``truth``."""
    return float(
        _cell_distances(estimated, truth, share_col=share_col, est_col=est_col, kind=kind)[
            "js_distance"
        ].mean()
    )


def paired_bootstrap_profile_error(
    estimated_a: ContextProfiles | pd.DataFrame,
    estimated_b: ContextProfiles | pd.DataFrame,
    truth: pd.DataFrame,
    *,
    rng: np.random.Generator,
    n_bootstrap: int = 2000,
    level: float = 0.95,
    share_col: str = "share",
    est_col: str = "shrunk_share",
    kind_a: str = "shrunk",
    kind_b: str = "shrunk",
) -> dict[str, float]:
    """``error_a - error_b`` with a paired percentile bootstrap CI over users (module doc).

    Returns ``error_a, error_b, diff, ci_low, ci_high, n_users, n_cells``. Two estimators held in
    one :class:`ContextProfiles` (e.g. raw vs shrunk) are compared with ``kind_a``/``kind_b``.
    """
    da = _cell_distances(estimated_a, truth, share_col=share_col, est_col=est_col, kind=kind_a)
    db = _cell_distances(estimated_b, truth, share_col=share_col, est_col=est_col, kind=kind_b)
    codes, users = pd.factorize(da["participant_id"])
    diff = da["js_distance"].to_numpy() - db["js_distance"].to_numpy()
    n_u = len(users)
    sum_diff = np.bincount(codes, weights=diff, minlength=n_u)
    n_cells = np.bincount(codes, minlength=n_u).astype(np.float64)
    draws = rng.multinomial(n_u, np.full(n_u, 1.0 / n_u), size=n_bootstrap).astype(np.float64)
    stats = (draws @ sum_diff) / (draws @ n_cells)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(stats, [alpha, 1.0 - alpha])
    return {
        "error_a": float(da["js_distance"].mean()),
        "error_b": float(db["js_distance"].mean()),
        "diff": float(diff.mean()),
        "ci_low": float(lo),
        "ci_high": float(hi),
        "n_users": int(n_u),
        "n_cells": int(diff.size),
    }
