r"""The context vector ``x`` of a Home request, from observable data only (canonical streams).

History counts (STUDY 6.1)
    A stream *counts* as in :mod:`prefcal.preferences.streams` (``ms_played >= 30 s``, content type
    music / podcast / audiobook). For request ``i`` of participant ``u`` at time ``t`` and window
    ``W`` days, ``n_{iWg}`` = number of counting streams of type ``g`` with
    ``t - W d <= ts_end < t``
    (only data before ``t``). Shares ``s_{iW} = n_{iW} / sum_g n_{iWg}``; an empty window takes the
    shares of the next longer window, then the user's profile-period mix, then the uniform mix.

Context profile (the user embedding)
    Over the ``profile_days`` days before the Home-log period, the user's type counts
    ``n_{u,w,h,g}`` by weekday/weekend ``w`` and hour ``h`` of ``t_play`` (the start of playback on
    the listener's clock, :func:`prefcal.tables.play_time`) are smoothed over the
    hours of the day with a circular Gaussian kernel of bandwidth ``b`` =
    ``home.features.profile_bandwidth`` hours, ``S_{uwhg} = sum_h' exp(-d(h, h')^2 / (2 b^2))
    n_{uwh'g}``, and shrunk towards the user's overall mix ``o_u`` of that period with ``kappa`` =
    ``home.features.profile_shrinkage`` pseudo-streams:
    ``P_{uwhg} = (S_{uwhg} + kappa o_{ug}) / (sum_g S_{uwhg} + kappa)``: the user's usual type
    mix at this hour on this kind of day. Likewise by device class ``d`` (web counts as desktop),
    without smoothing.

The context matrix (columns :func:`feature_names`)
    ``hour_sin, hour_cos`` = ``sin, cos(2 pi h / 24)`` of the fractional hour; ``weekend``;
    ``dev_mobile .. dev_tv`` one-hot; ``s{W}_{type}`` the window shares for every window and type;
    ``log_n{W_max}`` = ``ln(1 + n)`` of the longest window's count; ``hr_{type}`` the profile at
    the request's hour and kind of day; ``devp_{type}`` the profile of the request's device.

For the context-strength sweep, :func:`retype_history` redraws the type of every historical stream
from :func:`prefcal.simulate.model.expected_stream_mix` in its own context under another
``context_strength`` (times, devices and counts stay as observed), so that history and Home
behaviour come from the same population.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from prefcal.preferences.streams import qualifying_mask, to_epoch_ms
from prefcal.preferences.windows import window_features
from prefcal.simulate import model
from prefcal.tables import PLAY_TIME, stream_time

__all__ = [
    "ContextProfiles",
    "StreamHistory",
    "context_matrix",
    "circular_kernel",
    "context_profiles",
    "feature_names",
    "fill_shares",
    "retype_history",
    "window_shares",
]

MS_DAY = 86_400_000
MS_HOUR = 3_600_000
DEVICE_CLASS = {"mobile": 0, "desktop": 1, "web": 1, "speaker": 2, "tv": 3}


@dataclass
class StreamHistory:
    """Counting streams of some participants, sorted by (participant code, ts_end)."""

    participants: np.ndarray  # (P,) object participant ids; code = position
    code: np.ndarray  # (m,) int64 participant code
    ts_end: np.ndarray  # (m,) int64 epoch ms
    t_play: np.ndarray  # (m,) int64 epoch ms: start of playback (prefcal.tables.play_time)
    ms_played: np.ndarray  # (m,) int64
    device: np.ndarray  # (m,) int64 model device index, -1 = other / unknown
    type: np.ndarray  # (m,) int64 content type 0..G-1

    @classmethod
    def from_streams(
        cls, streams: pd.DataFrame, participants: Sequence[str], min_ms_played: int = 30_000
    ) -> StreamHistory:
        """Counting streams of ``participants`` (others are ignored) from a ``streams`` table."""
        parts = np.asarray(list(participants), dtype=object)
        keep = qualifying_mask(streams, types=model.CONTENT_TYPES, min_ms_played=min_ms_played)
        s = streams.loc[keep]
        code = pd.Index(parts).get_indexer(s["participant_id"].astype(object))
        s = s.loc[code >= 0]
        code = code[code >= 0].astype(np.int64)
        ts_end = to_epoch_ms(s["ts_end"], "streams.ts_end")
        t_play = to_epoch_ms(stream_time(s, PLAY_TIME), "streams.t_play")
        dev = s["device"].astype(object).map(DEVICE_CLASS).fillna(-1).to_numpy(dtype=np.int64)
        typ = pd.Index(model.CONTENT_TYPES).get_indexer(s["content_type"].astype(object))
        ms = s["ms_played"].to_numpy(np.int64)
        order = np.lexsort((ts_end, code))
        return cls(
            parts,
            code[order],
            ts_end[order],
            t_play[order],
            ms[order],
            dev[order],
            typ[order].astype(np.int64),
        )

    @property
    def n_participants(self) -> int:
        """P."""
        return int(self.participants.size)

    def codes_of(self, participant_ids: Sequence[str]) -> np.ndarray:
        """Participant codes of ids (clear error for an unknown id)."""
        codes = pd.Index(self.participants).get_indexer(np.asarray(participant_ids, dtype=object))
        if np.any(codes < 0):
            bad = np.asarray(participant_ids, dtype=object)[codes < 0][0]
            raise ValueError(f"participant {bad} is not in the stream history")
        return codes.astype(np.int64)

    def with_types(self, types: np.ndarray) -> StreamHistory:
        """The same streams with other content types."""
        return StreamHistory(
            self.participants,
            self.code,
            self.ts_end,
            self.t_play,
            self.ms_played,
            self.device,
            np.asarray(types, dtype=np.int64),
        )

    def to_streams(self) -> pd.DataFrame:
        """These streams as a minimal canonical ``streams`` table (participant_id, t_play,
        ts_start = ts_end - ms_played, ts_end, ms_played, content_type), e.g. for
        :func:`window_shares` after :func:`retype_history`."""
        return pd.DataFrame(
            {
                "participant_id": self.participants[self.code],
                "t_play": pd.to_datetime(self.t_play, unit="ms", utc=True),
                "ts_start": pd.to_datetime(self.ts_end - self.ms_played, unit="ms", utc=True),
                "ts_end": pd.to_datetime(self.ts_end, unit="ms", utc=True),
                "ms_played": self.ms_played,
                "content_type": np.asarray(model.CONTENT_TYPES, dtype=object)[self.type],
            }
        )


def window_shares(
    streams: pd.DataFrame,
    participant_ids: np.ndarray,
    t_ms: np.ndarray,
    windows: Sequence[int],
    min_ms_played: int = 30_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Window shares ``(n, W, G)`` (NaN for an empty window) and counts ``(n, W)`` of requests.

    Thin wrapper of :func:`prefcal.preferences.window_features` (windows ``[t - W days, t)`` on
    ``ts_end``, counting streams only, no decay, fallback NaN).
    """
    req = pd.DataFrame(
        {
            "participant_id": np.asarray(participant_ids, dtype=object),
            "t": pd.to_datetime(np.asarray(t_ms, dtype=np.int64), unit="ms", utc=True),
        }
    )
    wf = window_features(
        streams,
        req,
        windows=tuple(int(w) for w in windows),
        half_life=None,
        types=model.CONTENT_TYPES,
        min_ms_played=min_ms_played,
        time_column="ts_end",
        fallback="nan",
    )
    shares = np.stack(
        [
            np.column_stack(
                [wf[f"{t}_{int(w)}d"].to_numpy(np.float64) for t in model.CONTENT_TYPES]
            )
            for w in windows
        ],
        axis=1,
    )
    counts = np.column_stack([wf[f"n_{int(w)}d"].to_numpy(np.int64) for w in windows])
    return shares, counts


def fill_shares(shares: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Fill empty windows (NaN rows of ``shares (n, W, G)``) as in the module docstring.

    Windows are in increasing length; ``fallback (n, G)`` holds counts or shares of the last
    resort before the uniform mix (rows of zeros mean "none").
    """
    out = np.array(shares, dtype=np.float64, copy=True)
    n, n_w, n_types = out.shape
    fb = np.asarray(fallback, dtype=np.float64)
    fb_tot = fb.sum(axis=1, keepdims=True)
    last = np.where(fb_tot > 0, fb / np.where(fb_tot > 0, fb_tot, 1.0), 1.0 / n_types)
    for w in range(n_w - 1, -1, -1):
        missing = np.isnan(out[:, w, 0])
        out[missing, w] = last[missing]
        last = out[:, w]
    return out


@dataclass
class ContextProfiles:
    """Per participant: overall mix, hour x weekend mixes and device mixes (shrunk), counts."""

    overall: np.ndarray  # (P, G) shares (uniform when the participant has no streams)
    counts: np.ndarray  # (P, G) counts in the profile period
    hour: np.ndarray  # (P, 2, 24, G): [weekday, weekend] x hour of day
    device: np.ndarray  # (P, 4, G)


def circular_kernel(bandwidth: float) -> np.ndarray:
    """``(24, 24)`` weights ``exp(-d(h, h')^2 / (2 b^2))``, ``d`` the circular hour distance."""
    h = np.arange(24)
    d = np.abs(h[:, None] - h[None, :])
    d = np.minimum(d, 24 - d).astype(np.float64)
    if bandwidth <= 0:
        return (d == 0).astype(np.float64)
    return np.exp(-0.5 * (d / float(bandwidth)) ** 2)


def context_profiles(
    hist: StreamHistory,
    end_ms: int,
    days: int,
    bandwidth: float,
    shrinkage: float,
    start_weekday: int,
    start_ms: int,
) -> ContextProfiles:
    """Profiles from the streams with ``end_ms - days <= ts_end < end_ms`` (module docstring).

    ``start_ms`` / ``start_weekday`` place the streams' days (weekday of day 0, Monday = 0).
    """
    n_types = len(model.CONTENT_TYPES)
    p = hist.n_participants
    sel = (hist.ts_end >= end_ms - int(days) * MS_DAY) & (hist.ts_end < end_ms)
    code, typ, dev = hist.code[sel], hist.type[sel], hist.device[sel]
    hour = (hist.t_play[sel] % MS_DAY) // MS_HOUR
    day = (hist.t_play[sel] - start_ms) // MS_DAY
    weekend = model.weekend_flag(day, start_weekday).astype(np.int64)
    counts = np.bincount(code * n_types + typ, minlength=p * n_types).reshape(p, n_types)
    tot = counts.sum(axis=1, keepdims=True)
    overall = np.where(tot > 0, counts / np.maximum(tot, 1), 1.0 / n_types)
    kappa = float(shrinkage)

    def shrink(c: np.ndarray) -> np.ndarray:
        c_tot = c.sum(axis=-1, keepdims=True)
        o = overall.reshape((p,) + (1,) * (c.ndim - 2) + (n_types,))
        if kappa > 0:
            return (c + kappa * o) / (c_tot + kappa)
        return np.where(c_tot > 0, c / np.maximum(c_tot, 1e-300), o)

    idx = ((code * 2 + weekend) * 24 + hour) * n_types + typ
    c_hour = np.bincount(idx, minlength=p * 2 * 24 * n_types).reshape(p, 2, 24, n_types)
    smooth = np.einsum("hk,pwkg->pwhg", circular_kernel(bandwidth), c_hour.astype(np.float64))
    known = dev >= 0
    n_dev = len(model.DEVICES)
    idx_d = (code[known] * n_dev + dev[known]) * n_types + typ[known]
    c_dev = np.bincount(idx_d, minlength=p * n_dev * n_types).reshape(p, n_dev, n_types)
    return ContextProfiles(
        overall=overall,
        counts=counts,
        hour=shrink(smooth),
        device=shrink(c_dev.astype(np.float64)),
    )


def feature_names(windows: Sequence[int]) -> list[str]:
    """Column names of :func:`context_matrix`."""
    types = model.CONTENT_TYPES
    names = ["hour_sin", "hour_cos", "weekend"] + [f"dev_{d}" for d in model.DEVICES]
    for w in windows:
        names += [f"s{int(w)}_{t}" for t in types]
    names.append(f"log_n{int(max(windows))}")
    names += [f"hr_{t}" for t in types] + [f"devp_{t}" for t in types]
    return names


def context_matrix(
    hour_frac: np.ndarray,
    weekend: np.ndarray,
    device: np.ndarray,
    shares: np.ndarray,
    longest_count: np.ndarray,
    code: np.ndarray,
    profiles: ContextProfiles,
) -> np.ndarray:
    """The context vectors ``x_i`` (columns :func:`feature_names`), ``(n, d)`` float64.

    ``hour_frac`` is the fractional UTC hour, ``device`` the model device index, ``shares`` the
    filled window shares ``(n, W, G)``, ``longest_count`` the longest window's stream count and
    ``code`` the participant code of each request in ``profiles``.
    """
    n = hour_frac.size
    ang = 2.0 * np.pi * np.asarray(hour_frac, dtype=np.float64) / 24.0
    dev = np.zeros((n, len(model.DEVICES)))
    dev[np.arange(n), np.asarray(device, dtype=np.int64)] = 1.0
    hour = np.minimum(np.floor(hour_frac).astype(np.int64), 23)
    wk = np.asarray(weekend, dtype=np.int64)
    return np.column_stack(
        [
            np.sin(ang),
            np.cos(ang),
            np.asarray(weekend, dtype=np.float64),
            dev,
            shares.reshape(n, -1),
            np.log1p(np.asarray(longest_count, dtype=np.float64)),
            profiles.hour[code, wk, hour],
            profiles.device[code, np.asarray(device, dtype=np.int64)],
        ]
    )


def retype_history(
    hist: StreamHistory,
    params: model.UserParams,
    row_of_code: np.ndarray,
    start_ms: int,
    days: int,
    start_weekday: int,
    rng: np.random.Generator,
) -> StreamHistory:
    """Redraw each stream's type from ``expected_stream_mix`` in its context under ``params``.

    ``row_of_code[c]`` is the row of participant code ``c`` in ``params``. Streams on an unknown
    device keep their type. One uniform per stream is drawn from ``rng``.
    """
    u = rng.random(hist.code.size)
    known = np.flatnonzero(hist.device >= 0)
    day = (hist.t_play - start_ms) // MS_DAY
    hour = (hist.t_play % MS_DAY) // MS_HOUR
    types = hist.type.copy()
    # one model evaluation per (participant, day, hour, device): tau = (day + hour / 24) / days
    # at the hour of the stream's start, as the listening simulator uses for its sessions
    key = np.column_stack([hist.code[known], day[known], hour[known], hist.device[known]])
    cells, inverse = np.unique(key, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    c_code, c_day, c_hour, c_dev = cells.T
    weekend = model.weekend_flag(c_day, start_weekday)
    tau = np.clip((c_day + c_hour / 24.0) / int(days), 0.0, 1.0)
    mix = np.empty((cells.shape[0], len(model.CONTENT_TYPES)))
    for lo in range(0, cells.shape[0], 200_000):
        sl = slice(lo, lo + 200_000)
        mix[sl] = model.expected_stream_mix(
            params.take(row_of_code[c_code[sl]]), c_hour[sl], weekend[sl], c_dev[sl], tau[sl]
        )
    cum = np.cumsum(mix[inverse], axis=1)
    types[known] = np.minimum(np.sum(cum <= (u[known] * cum[:, -1])[:, None], axis=1), 2)
    return hist.with_types(types)
