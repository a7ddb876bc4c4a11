"""True context profiles of a simulated population (validation only: reads the truth sidecar).

The estimators of :mod:`prefcal.preferences` estimate the *mix of streams* (>= 30 s) a user plays in
a context cell (hour block x weekday/weekend x device class). The matching truth is the expected
stream mix of the simulator's user model (:mod:`prefcal.simulate.model`), at the position ``tau``
in the simulated period (``tau = 1``: the end). For user ``u``, hour ``h``, day type ``w``, device
``d`` and type ``k``, the expected number of streams of type ``k`` per active day is

    E[u, h, w, d, k] = lambda_u a_u(h | w) P(d | h, w) p_k(h, w, d, tau) / Z
                       + [k = podcast] H_u(h, w, d),      Z = sum_j p_j(h, w, d, tau) / L_j,

(sessions per day times the session-start density times the device probability times the
expected streams of type k per session, plus the habitual user's daily show: see
:func:`prefcal.simulate.model.expected_stream_mix`, which is ``E`` normalised over ``k``). A cell
``c`` (a set of hours and devices) has the true mix

    p*_c[k] = sum_{(h, d) in c} E[u, h, w, d, k] / sum_{(h, d) in c} sum_j E[u, h, w, d, j],

and ``volume`` = the denominator (expected streams per active day of that day type in the cell).
Cells with zero volume (a device the user does not own) have no truth and are left out.
Participants are named by their study id: ``study_id(folder, seed)`` of :mod:`prefcal.ingest`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from prefcal.ingest import study_id
from prefcal.preferences.context import DAY_TYPES, DEFAULT_DEVICE_CLASSES, hour_block_index
from prefcal.simulate import model

__all__ = [
    "expected_streams",
    "load_truth_of",
    "load_truth_users",
    "true_context_profiles",
    "true_hourly_mix",
]


def load_truth_users(
    truth_dirs: Sequence[str | Path], seed: int
) -> tuple[model.UserParams, np.ndarray]:
    """User parameters of the truth shards and each user's study id (same row order).

    ``seed`` is the id seed of the ingest (the study's ``seed``).
    """
    params = model.load_user_params(list(truth_dirs))
    folders = []
    for d in truth_dirs:
        path = Path(d) / "users.parquet"
        t = pq.read_table(path, columns=["user_index", "folder"]).to_pandas()
        folders.append(t)
    lookup = pd.concat(folders, ignore_index=True).set_index("user_index")["folder"]
    missing = ~pd.Index(params.user_index).isin(lookup.index)
    if missing.any():
        raise ValueError(
            f"truth users.parquet lacks the folder of user {params.user_index[missing][0]}"
        )
    names = lookup.reindex(params.user_index).to_numpy(dtype=object)
    ids = np.array([study_id(str(f), int(seed)) for f in names], dtype=object)
    return params, ids


def load_truth_of(
    participants: Sequence[str], truth_dirs: Sequence[str | Path], seed: int
) -> model.UserParams:
    """The user parameters of ``participants`` (study ids, in that order), reading the truth
    shards ``truth_dirs`` one at a time (only one shard's users in memory)."""
    want = list(participants)
    rows: dict[str, model.UserParams] = {}
    for d in dict.fromkeys(Path(x) for x in truth_dirs):
        params, ids = load_truth_users([d], seed)
        for u in want:
            hit = np.flatnonzero(ids == u)
            if u not in rows and hit.size:
                rows[u] = params.take(hit[:1])
        if len(rows) == len(set(want)):
            break
    missing = [u for u in want if u not in rows]
    if missing:
        raise ValueError(f"participant {missing[0]!r} is in none of the truth shards given")
    return model.UserParams.concat([rows[u] for u in want])


def expected_streams(params: model.UserParams, tau: float = 1.0) -> np.ndarray:
    """``E[u, h, w, d, k]`` of the module doc, shape ``(n_users, 24, 2, 4, 3)``.

    Axes: user, UTC hour 0..23, weekend (0 = Monday-Friday, 1 = Saturday/Sunday), device
    (:data:`prefcal.simulate.model.DEVICES`), content type (:data:`~prefcal.simulate.model.
    CONTENT_TYPES`). Units: expected streams >= 30 s per active day of that day type.
    """
    n = params.n
    n_dev = len(model.DEVICES)
    out = np.zeros((n, 24, 2, n_dev, len(model.CONTENT_TYPES)))
    if n == 0:
        return out
    rows = np.arange(n)
    habit_hours = model.habit_hour_probs(params)
    for w in (0, 1):
        weekend = bool(w)
        activity = model.session_hour_probs(params, weekend)  # (n, 24)
        for h in range(24):
            dev_p = model.device_probs(params, h, weekend)  # (n, 4)
            for d in range(n_dev):
                p = model.content_type_probs(params, h, weekend, d, tau)
                z = (p / params.plays_per_session).sum(axis=1)
                regular = params.sessions_per_day * activity[:, h] * dev_p[:, d] / z
                out[:, h, w, d, :] = regular[:, None] * p
                if not weekend and d == model.MOBILE:
                    habit = params.habitual * params.habit_strength * habit_hours[rows, h]
                    out[:, h, w, d, model.PODCAST] += habit
    return out


def true_context_profiles(
    params: model.UserParams,
    participant_id: np.ndarray,
    *,
    hour_blocks: Sequence[int],
    tau: float = 1.0,
    device_classes: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Tidy truth table of the module doc: one row per (user, observed cell, content type).

    Columns ``participant_id, hour_block`` (start hour), ``day_type, device_class, content_type,
    share, volume`` (the format :func:`prefcal.preferences.profile_error` reads). Device classes
    follow ``preferences.device_classes`` (the simulator's devices are mapped like the ingest's).
    """
    ids = np.asarray(participant_id, dtype=object)
    if ids.shape != (params.n,):
        raise ValueError("participant_id must have one entry per user of params")
    classes_map = dict(DEFAULT_DEVICE_CLASSES if device_classes is None else device_classes)
    classes = tuple(dict.fromkeys(classes_map.values()))
    dev_class = []
    for name in model.DEVICES:
        cls = classes_map.get(name, classes_map.get("unknown"))
        if cls is None:
            raise ValueError(f"device {name!r} is not in preferences.device_classes")
        dev_class.append(classes.index(cls))
    block = hour_block_index(np.arange(24), hour_blocks)
    e = expected_streams(params, tau)  # (n, 24, 2, D, K)
    n_b, n_c, g = len(hour_blocks), len(classes), e.shape[-1]
    # sum hours into blocks and devices into classes with one-hot matrices
    hb = np.zeros((24, n_b))
    hb[np.arange(24), block] = 1.0
    dc = np.zeros((len(model.DEVICES), n_c))
    dc[np.arange(len(model.DEVICES)), dev_class] = 1.0
    cells = np.einsum("uhwdk,hb,dc->ubwck", e, hb, dc)  # (n, B, 2, C, K)
    volume = cells.sum(axis=-1)
    u, b, w, c = np.nonzero(volume > 0)
    share = cells[u, b, w, c] / volume[u, b, w, c][:, None]
    types = np.asarray(model.CONTENT_TYPES, dtype=object)
    rep = np.repeat
    return pd.DataFrame(
        {
            "participant_id": rep(ids[u], g),
            "hour_block": rep(np.asarray(hour_blocks, dtype=np.int64)[b], g),
            "day_type": rep(np.asarray(DAY_TYPES, dtype=object)[w], g),
            "device_class": rep(np.asarray(classes, dtype=object)[c], g),
            "content_type": np.tile(types, u.size),
            "share": share.ravel(),
            "volume": rep(volume[u, b, w, c], g),
        }
    )


def true_hourly_mix(
    params: model.UserParams, participant_id: np.ndarray, *, weekend: bool = False, tau: float = 1.0
) -> pd.DataFrame:
    """True expected stream mix by UTC hour (devices pooled) on weekdays or weekend days.

    Tidy: ``participant_id, hour, content_type, share`` (``sum_d E[u, h, w, d, k]`` normalised
    over ``k``; an hour with no expected stream gets NaN).
    """
    ids = np.asarray(participant_id, dtype=object)
    e = expected_streams(params, tau)[:, :, int(weekend)].sum(axis=2)  # (n, 24, K)
    tot = e.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(tot > 0, e / tot, np.nan)
    g = share.shape[-1]
    n = ids.size
    return pd.DataFrame(
        {
            "participant_id": np.repeat(ids, 24 * g),
            "hour": np.tile(np.repeat(np.arange(24), g), n),
            "content_type": np.tile(np.asarray(model.CONTENT_TYPES, dtype=object), n * 24),
            "share": share.ravel(),
        }
    )
