"""Context profiles with empirical-Bayes shrinkage (STUDY.md 6.1).

A *context* is (hour block, weekday/weekend, device class) of a stream, read in local time
``timezone`` from ``time_column`` (``t_play`` by default, :func:`prefcal.tables.play_time`: the
moment the listener chose to play, on the listener's clock for offline plays too).
Hour blocks start at the hours of ``analysis.hour_blocks``; an hour before the first start belongs
to the last block (the night wraps round). Saturday and Sunday are the weekend. Devices are mapped
to classes with ``preferences.device_classes``.

With ``n_uc`` the type counts of user ``u`` in context ``c`` (streams that count, :mod:`.streams`),
``n_u = sum_c n_uc`` and ``N = sum_k n[k]`` for any count vector, the model is hierarchical
Dirichlet-multinomial:

    n_u  ~ DirMult(N_u,  alpha_user * pi),      n_uc ~ DirMult(N_uc, alpha_ctx * p_u),

and the estimates are the posterior means

    pi   = (T + 1/2) / (N_T + G/2)                       (population, T = sum_u n_u; Jeffreys)
    p_u  = (n_u + alpha_user * pi) / (N_u + alpha_user)  (user overall, shrunk to the population)
    p_uc = (n_uc + alpha_ctx * p_u) / (N_uc + alpha_ctx) (user in context, shrunk to the user)

A context the user was never seen in gets ``p_u``; an unknown user gets ``pi``.

The prior strengths are ESTIMATED from the data by :func:`estimate_strength`, each with a common
alpha over all users (resp. all user x context cells). To avoid the bias of comparing a cell with a
parent that contains it, the parent mean in the estimation is leave-one-out: for user ``u`` the
population without ``u``, ``(T - n_u + 1/2) / (N_T - N_u + G/2)``; for cell ``uc`` the user's
shrunk profile without that cell, ``(n_u - n_uc + alpha_user pi) / (N_u - N_uc + alpha_user)``.

* ``marginal_likelihood`` (the functions' default): maximise over alpha the Dirichlet-multinomial
  log marginal likelihood ``sum_j [lnG(a) - lnG(N_j + a) + sum_k (lnG(n_jk + a m_jk) -
  lnG(a m_jk))]`` (a grid over log alpha, refined by a bounded scalar search);
* ``moments``: with ``X_j^2 = sum_k (n_jk - N_j m_jk)^2 / (N_j m_jk)`` and
  ``E[X_j^2] = (G - 1)(1 + (N_j - 1) phi)``, ``phi = 1 / (1 + alpha)``:
  ``phi = (sum_j X_j^2 - (G - 1) J) / ((G - 1) sum_j (N_j - 1))`` and ``alpha = 1 / phi - 1``.

* ``crossfit``: held-out prediction (:func:`crossfit_strength`). Streams come in sessions of one
  type (a music session holds several tracks), so the counts of a cell are over-dispersed *within*
  the cell, which the two estimators above read as heterogeneity *between* cells: they shrink too
  little (on the simulated study alpha_ctx ~ 4 where ~ 30 predicts best). Crossfit splits the
  streams by the parity of their local calendar day (sessions never straddle folds), fits each
  fold's profiles and chooses the alpha that maximises the log-likelihood of the other fold's
  streams, ``sum_j sum_k B_jk ln((A_jk + a m_jk) / (N^A_j + a))`` summed over both directions,
  with ``A`` the training counts, ``B`` the held-out counts and ``m`` the training fold's parent
  (population for alpha_user; the fold's shrunk user profile for alpha_ctx). No model of the
  within-cell dependence is needed; the same grid and bounded search as ``marginal_likelihood``.

Only rows with ``N_j >= 2`` inform alpha (crossfit: rows with training and held-out counts). Alpha
is kept in ``[1e-3, 1e6]``; the upper bound means "no detectable heterogeneity" (complete pooling).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize_scalar
from scipy.special import gammaln

from prefcal.preferences.streams import (
    DEFAULT_TYPES,
    qualifying_mask,
    require_columns,
    to_epoch_ms,
    type_codes,
)
from prefcal.tables import stream_time

ALPHA_BOUNDS = (1e-3, 1e6)
METHODS = ("marginal_likelihood", "moments")
#: methods of :func:`context_profiles` (``crossfit`` needs the streams' days, not only counts)
CONTEXT_METHODS = (*METHODS, "crossfit")
DAY_TYPES = ("weekday", "weekend")
DEFAULT_DEVICE_CLASSES = {
    "mobile": "mobile",
    "desktop": "desktop",
    "web": "desktop",
    "speaker": "speaker",
    "tv": "tv",
    "other": "other",
    "unknown": "other",
}


def _dm_loglik(alpha: float, n: np.ndarray, m: np.ndarray) -> float:
    tot = n.sum(axis=1)
    am = alpha * m
    return float(
        np.sum(gammaln(alpha) - gammaln(tot + alpha)) + np.sum(gammaln(n + am) - gammaln(am))
    )


def estimate_strength(
    counts: np.ndarray, prior_mean: np.ndarray, method: str = "marginal_likelihood"
) -> float:
    """Common Dirichlet strength alpha of ``counts[j] ~ DirMult(N_j, alpha * prior_mean[j])``.

    See the module doc for both estimators; rows with fewer than 2 counts are ignored. Returns the
    upper bound 1e6 when no row is informative.
    """
    if method not in METHODS:
        raise ValueError(f"preferences.shrinkage must be one of {list(METHODS)}, got {method!r}")
    n = np.asarray(counts, dtype=np.float64)
    m = np.asarray(prior_mean, dtype=np.float64)
    if n.shape != m.shape or n.ndim != 2:
        raise ValueError("counts and prior_mean must be 2-D arrays of the same shape")
    rows = n.sum(axis=1) >= 2
    n, m = n[rows], m[rows]
    lo, hi = ALPHA_BOUNDS
    if n.shape[0] == 0:
        return hi
    m = np.clip(m, 1e-12, None)
    m = m / m.sum(axis=1, keepdims=True)
    g = n.shape[1]
    if method == "moments":
        tot = n.sum(axis=1)
        x2 = np.sum((n - tot[:, None] * m) ** 2 / (tot[:, None] * m))
        denom = (g - 1) * np.sum(tot - 1)
        phi = (x2 - (g - 1) * n.shape[0]) / denom if denom > 0 else 0.0
        if phi <= 1.0 / (1.0 + hi):
            return hi
        return float(np.clip(1.0 / phi - 1.0, lo, hi))
    grid = np.linspace(np.log(lo), np.log(hi), 61)
    ll = np.array([_dm_loglik(np.exp(a), n, m) for a in grid])
    best = int(np.argmax(ll))
    if best == len(grid) - 1:
        return hi
    a_lo, a_hi = grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]
    res = minimize_scalar(
        lambda a: -_dm_loglik(np.exp(a), n, m),
        bounds=(a_lo, a_hi),
        method="bounded",
        options={"xatol": 1e-6},
    )
    a = res.x if -res.fun >= ll[best] else grid[best]
    return float(np.exp(a))


def crossfit_strength(train: np.ndarray, test: np.ndarray, prior_mean: np.ndarray) -> float:
    """Alpha maximising the held-out log-likelihood ``sum_j sum_k B_jk ln p_jk(alpha)`` with
    ``p_j(alpha) = (A_j + alpha m_j) / (N^A_j + alpha)`` (module doc, ``crossfit``).

    ``train`` (A), ``test`` (B) and ``prior_mean`` (m) are aligned 2-D arrays (rows = units in
    both split directions stacked). Rows without training or held-out counts do not depend on
    alpha and are ignored; the upper bound 1e6 is returned when no row is informative.
    """
    a_cnt = np.asarray(train, dtype=np.float64)
    b_cnt = np.asarray(test, dtype=np.float64)
    m = np.asarray(prior_mean, dtype=np.float64)
    if not a_cnt.shape == b_cnt.shape == m.shape or a_cnt.ndim != 2:
        raise ValueError("train, test and prior_mean must be 2-D arrays of the same shape")
    rows = (a_cnt.sum(axis=1) > 0) & (b_cnt.sum(axis=1) > 0)
    a_cnt, b_cnt, m = a_cnt[rows], b_cnt[rows], m[rows]
    lo, hi = ALPHA_BOUNDS
    if a_cnt.shape[0] == 0:
        return hi
    m = np.clip(m, 1e-12, None)
    m = m / m.sum(axis=1, keepdims=True)
    n_a = a_cnt.sum(axis=1, keepdims=True)
    pos = b_cnt > 0
    b_pos = b_cnt[pos]

    def loglik(log_alpha: float) -> float:
        a = np.exp(log_alpha)
        p = (a_cnt + a * m) / (n_a + a)
        return float(np.dot(b_pos, np.log(p[pos])))

    grid = np.linspace(np.log(lo), np.log(hi), 61)
    ll = np.array([loglik(x) for x in grid])
    best = int(np.argmax(ll))
    if best == len(grid) - 1:
        return hi
    res = minimize_scalar(
        lambda x: -loglik(x),
        bounds=(grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)]),
        method="bounded",
        options={"xatol": 1e-6},
    )
    x = res.x if -res.fun >= ll[best] else grid[best]
    return float(np.exp(x))


def local_day_index(ts: pd.Series | np.ndarray, timezone: str) -> np.ndarray:
    """Local calendar day of timestamps in ``timezone`` as days since 1970-01-01 (naive = UTC)."""
    ms = to_epoch_ms(ts if isinstance(ts, pd.Series) else pd.Series(ts), "timestamp")
    if timezone.upper() == "UTC":
        return ms // 86_400_000
    local = pd.Series(pd.to_datetime(ms, unit="ms", utc=True)).dt.tz_convert(timezone)
    naive = local.dt.tz_localize(None).to_numpy().astype("datetime64[D]")
    return naive.astype(np.int64)


def _crossfit_alphas(cells0: np.ndarray, cells1: np.ndarray) -> tuple[float, float]:
    """``(alpha_user, alpha_ctx)`` by crossfit from the two folds' cell counts ``(U, C, G)``."""
    cells = [cells0.astype(np.float64), cells1.astype(np.float64)]
    g = cells0.shape[-1]
    users = [c.sum(axis=1) for c in cells]
    pops = []
    for f in (0, 1):
        tot = users[f].sum(axis=0)
        pops.append(np.broadcast_to((tot + 0.5) / (tot.sum() + 0.5 * g), users[f].shape))
    alpha_user = crossfit_strength(
        np.vstack([users[0], users[1]]), np.vstack([users[1], users[0]]), np.vstack(pops)
    )
    shrunk = [
        (users[f] + alpha_user * pops[f]) / (users[f].sum(axis=1, keepdims=True) + alpha_user)
        for f in (0, 1)
    ]
    n_c = cells[0].shape[1]
    train = np.vstack([cells[0].reshape(-1, g), cells[1].reshape(-1, g)])
    test = np.vstack([cells[1].reshape(-1, g), cells[0].reshape(-1, g)])
    prior = np.vstack([np.repeat(shrunk[0], n_c, axis=0), np.repeat(shrunk[1], n_c, axis=0)])
    alpha_ctx = crossfit_strength(train, test, prior)
    return alpha_user, alpha_ctx


def hour_block_index(hours: np.ndarray, hour_blocks: Sequence[int]) -> np.ndarray:
    """Block of each hour (0..23): the last block start <= hour; before the first start: last."""
    starts = np.asarray(hour_blocks)
    if starts.size == 0 or np.any(np.diff(starts) <= 0) or starts.min() < 0 or starts.max() > 23:
        raise ValueError(
            "analysis.hour_blocks must be strictly increasing hours in 0..23, "
            f"got {list(hour_blocks)}"
        )
    idx = np.searchsorted(starts, np.asarray(hours), side="right") - 1
    return np.where(idx < 0, starts.size - 1, idx)


def local_hour_weekend(ts: pd.Series | np.ndarray, timezone: str) -> tuple[np.ndarray, np.ndarray]:
    """Hour of day and weekend flag of timestamps in ``timezone`` (naive = UTC)."""
    ms = to_epoch_ms(ts if isinstance(ts, pd.Series) else pd.Series(ts), "timestamp")
    local = pd.Series(pd.to_datetime(ms, unit="ms", utc=True))
    if timezone.upper() != "UTC":
        try:
            local = local.dt.tz_convert(timezone)
        except Exception as exc:
            raise ValueError(f"preferences.timezone {timezone!r} is not a valid IANA zone") from exc
    return local.dt.hour.to_numpy(), local.dt.day_of_week.to_numpy() >= 5


def device_class_codes(
    device: pd.Series | np.ndarray, device_classes: Mapping[str, str]
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Class index of each device and the class names (in order of first appearance in the map)."""
    classes = tuple(dict.fromkeys(device_classes.values()))
    codes, uniques = pd.factorize(pd.Series(device, dtype=object))
    fallback = device_classes.get("unknown")
    mapped = []
    for d in uniques:
        cls = device_classes.get(d, fallback)
        if cls is None:
            raise ValueError(f"device {d!r} is not in preferences.device_classes")
        mapped.append(classes.index(cls))
    fb = classes.index(fallback) if fallback is not None else -1
    lookup = np.asarray(mapped, dtype=np.int64)
    out = np.where(codes >= 0, lookup[codes] if lookup.size else fb, fb)
    if np.any(out < 0):
        raise ValueError("a device is null and preferences.device_classes has no 'unknown' entry")
    return out, classes


@dataclass
class ContextProfiles:
    """Per user x context type distributions, raw and shrunk (module doc).

    Arrays: ``cell_counts[u, b, w, d, k]`` (user, hour block, weekday=0/weekend=1, device class,
    type), ``user_counts[u, k]``, ``user_shrunk[u, k]``, ``population[k]``.
    """

    users: pd.Index
    types: tuple[str, ...]
    hour_blocks: tuple[int, ...]
    device_classes: Mapping[str, str]
    classes: tuple[str, ...]
    timezone: str
    time_column: str
    cell_counts: np.ndarray
    user_counts: np.ndarray
    population: np.ndarray
    user_shrunk: np.ndarray
    alpha_user: float
    alpha_context: float
    method: str

    def cells(self, kind: str = "shrunk") -> np.ndarray:
        """Profiles of every cell, shape ``(U, B, 2, D, G)``: ``shrunk``, ``raw`` or ``prior``.

        ``raw`` = ``n_uc / N_uc`` (the user's raw overall mix where ``N_uc = 0``, the population
        where the user has no streams); ``prior`` = ``p_u`` broadcast over contexts.
        """
        n = self.cell_counts
        tot = n.sum(axis=-1, keepdims=True)
        prior = np.broadcast_to(self.user_shrunk[:, None, None, None, :], n.shape)
        if kind == "prior":
            return np.array(prior)
        if kind == "shrunk":
            return (n + self.alpha_context * prior) / (tot + self.alpha_context)
        if kind == "raw":
            ut = self.user_counts.sum(axis=1, keepdims=True)
            user_raw = np.where(
                ut > 0, self.user_counts / np.maximum(ut, 1), self.population[None, :]
            )
            fill = np.broadcast_to(user_raw[:, None, None, None, :], n.shape)
            return np.where(tot > 0, n / np.maximum(tot, 1), fill)
        raise ValueError(f"kind must be 'shrunk', 'raw' or 'prior', got {kind!r}")

    def lookup(
        self,
        participant_id: np.ndarray | pd.Series,
        hour_block: np.ndarray,
        weekend: np.ndarray,
        device_class: np.ndarray,
        kind: str = "shrunk",
    ) -> np.ndarray:
        """Profiles for arrays of contexts (block index, weekend flag, class index); ``(n, G)``.

        Unknown participants get the population profile ``pi`` (for every ``kind``).
        """
        u = self.users.get_indexer(pd.Index(np.asarray(participant_id, dtype=object)))
        return self.lookup_rows(u, hour_block, weekend, device_class, kind)

    def lookup_rows(
        self,
        rows: np.ndarray,
        hour_block: np.ndarray,
        weekend: np.ndarray,
        device_class: np.ndarray,
        kind: str = "shrunk",
    ) -> np.ndarray:
        """:meth:`lookup` with the users given as row numbers (-1: unknown, gets ``pi``)."""
        u = np.asarray(rows, dtype=np.int64)
        table = self.cells(kind)
        out = np.broadcast_to(self.population, (u.size, len(self.types))).copy()
        ok = u >= 0
        b = np.asarray(hour_block)[ok]
        w = np.asarray(weekend, dtype=np.int64)[ok]
        d = np.asarray(device_class)[ok]
        out[ok] = table[u[ok], b, w, d]
        return out

    def lookup_at(
        self,
        participant_id: np.ndarray | pd.Series,
        ts: pd.Series | np.ndarray,
        device: np.ndarray | pd.Series,
        kind: str = "shrunk",
    ) -> np.ndarray:
        """Profiles at timestamps and raw device names (context derived as for the streams)."""
        hour, weekend = local_hour_weekend(ts, self.timezone)
        dev, _ = device_class_codes(device, self.device_classes)
        return self.lookup(
            participant_id, hour_block_index(hour, self.hour_blocks), weekend, dev, kind
        )

    def to_frame(self) -> pd.DataFrame:
        """Tidy long table of the observed cells: one row per (user, context, content type).

        Columns: participant_id, hour_block (start hour), day_type, device_class, content_type,
        count, n_cell, raw_share, prior_share, shrunk_share.
        """
        n = self.cell_counts
        tot = n.sum(axis=-1)
        u, b, w, d = np.nonzero(tot)
        shrunk = self.cells("shrunk")[u, b, w, d]
        prior = self.user_shrunk[u]
        g = len(self.types)
        rep = np.repeat
        frame = pd.DataFrame(
            {
                "participant_id": rep(np.asarray(self.users, dtype=object)[u], g),
                "hour_block": rep(np.asarray(self.hour_blocks)[b], g),
                "day_type": rep(np.asarray(DAY_TYPES, dtype=object)[w], g),
                "device_class": rep(np.asarray(self.classes, dtype=object)[d], g),
                "content_type": np.tile(np.asarray(self.types, dtype=object), u.size),
                "count": n[u, b, w, d].ravel().astype(np.int64),
                "n_cell": rep(tot[u, b, w, d], g).astype(np.int64),
            }
        )
        frame["raw_share"] = frame["count"] / frame["n_cell"]
        frame["prior_share"] = prior.ravel()
        frame["shrunk_share"] = shrunk.ravel()
        return frame

    def users_frame(self) -> pd.DataFrame:
        """Tidy long table per (user, content type): count, n_user, raw_share, shrunk_share."""
        g = len(self.types)
        tot = self.user_counts.sum(axis=1)
        frame = pd.DataFrame(
            {
                "participant_id": np.repeat(np.asarray(self.users, dtype=object), g),
                "content_type": np.tile(np.asarray(self.types, dtype=object), len(self.users)),
                "count": self.user_counts.ravel().astype(np.int64),
                "n_user": np.repeat(tot, g).astype(np.int64),
                "population_share": np.tile(self.population, len(self.users)),
                "shrunk_share": self.user_shrunk.ravel(),
            }
        )
        frame["raw_share"] = frame["count"] / frame["n_user"].where(frame["n_user"] > 0)
        return frame


@dataclass
class ContextCounts:
    """The sufficient statistics of :func:`context_profiles`: per user, the counts of streams that
    count in every cell and fold, ``folds[u, b, w, d, k, f]`` (user, hour block, weekday=0 /
    weekend=1, device class, type, fold ``f`` = local calendar day mod 2).

    Counts of disjoint sets of users (the shards of a study) are stacked with :meth:`concat` and
    give the same profiles as the counts of all streams at once: every estimate is a function of
    these counts only.
    """

    users: pd.Index
    folds: np.ndarray
    types: tuple[str, ...]
    hour_blocks: tuple[int, ...]
    device_classes: Mapping[str, str]
    classes: tuple[str, ...]
    timezone: str
    time_column: str

    @classmethod
    def concat(cls, parts: Sequence[ContextCounts]) -> ContextCounts:
        """Stack the counts of disjoint user sets, users sorted by id (stable)."""
        if not parts:
            raise ValueError("no context counts to concatenate")
        first = parts[0]
        meta = ("types", "hour_blocks", "classes", "device_classes", "timezone", "time_column")
        for p in parts[1:]:
            for m in meta:
                if getattr(p, m) != getattr(first, m):
                    raise ValueError(f"context counts differ in {m}: {getattr(p, m)!r}")
        users = np.concatenate([np.asarray(p.users, dtype=object) for p in parts])
        if pd.Index(users).has_duplicates:
            raise ValueError("a participant appears in two shards' context counts")
        folds = np.concatenate([p.folds for p in parts], axis=0)
        order = np.argsort(users, kind="stable")
        return cls(
            pd.Index(users[order]), folds[order], first.types, first.hour_blocks,
            first.device_classes, first.classes, first.timezone, first.time_column,
        )  # fmt: skip

    def to_frame(self) -> pd.DataFrame:
        """Tidy table of the non-zero counts (and one row with ``count`` 0 per user without any,
        so that users are kept): participant_id, cell indices, type and fold index, count."""
        u, b, w, d, k, f = np.nonzero(self.folds)
        frame = pd.DataFrame(
            {
                "participant_id": np.asarray(self.users, dtype=object)[u],
                "block": b.astype(np.int16),
                "weekend": w.astype(np.int8),
                "device_class": d.astype(np.int16),
                "type": k.astype(np.int16),
                "fold": f.astype(np.int8),
                "count": self.folds[u, b, w, d, k, f].astype(np.int64),
            }
        )
        per_user = self.folds.reshape(len(self.users), int(np.prod(self.folds.shape[1:])))
        empty = np.flatnonzero(per_user.sum(axis=1) == 0)
        if empty.size:
            zeros = pd.DataFrame(
                {
                    "participant_id": np.asarray(self.users, dtype=object)[empty],
                    **{c: np.zeros(empty.size, dtype=frame[c].dtype) for c in frame.columns[1:]},
                }
            )
            frame = pd.concat([frame, zeros], ignore_index=True)
        return frame.sort_values("participant_id", kind="stable", ignore_index=True)

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        hour_blocks: Sequence[int],
        types: Sequence[str],
        device_classes: Mapping[str, str],
        timezone: str = "UTC",
        time_column: str = "t_play",
    ) -> ContextCounts:
        """The counts of :meth:`to_frame`'s table (users in order of first appearance)."""
        classes = tuple(dict.fromkeys(device_classes.values()))
        codes, users = pd.factorize(frame["participant_id"])
        shape = (len(users), len(hour_blocks), 2, len(classes), len(types), 2)
        folds = np.zeros(shape)
        np.add.at(
            folds,
            (
                codes,
                frame["block"].to_numpy(np.int64),
                frame["weekend"].to_numpy(np.int64),
                frame["device_class"].to_numpy(np.int64),
                frame["type"].to_numpy(np.int64),
                frame["fold"].to_numpy(np.int64),
            ),
            frame["count"].to_numpy(np.float64),
        )
        return cls(
            pd.Index(np.asarray(users, dtype=object)), folds, tuple(types),
            tuple(int(h) for h in hour_blocks), dict(device_classes), classes, timezone,
            time_column,
        )  # fmt: skip


def context_counts(
    streams: pd.DataFrame,
    *,
    hour_blocks: Sequence[int] = (0, 6, 10, 14, 18, 22),
    types: Sequence[str] = DEFAULT_TYPES,
    device_classes: Mapping[str, str] | None = None,
    timezone: str = "UTC",
    time_column: str = "t_play",
    min_ms_played: int = 30_000,
    exclude_skips: bool = False,
    before: pd.Timestamp | None = None,
) -> ContextCounts:
    """The :class:`ContextCounts` of ``streams`` (only those before ``before``); every participant
    of ``streams`` is a user, in order of first appearance, with zero counts if none counts."""
    require_columns(streams, ["participant_id", "device"], "streams")
    when = stream_time(streams, time_column)
    device_classes = dict(DEFAULT_DEVICE_CLASSES if device_classes is None else device_classes)
    keep = qualifying_mask(
        streams, types=types, min_ms_played=min_ms_played, exclude_skips=exclude_skips
    )
    if before is not None:
        keep &= (
            to_epoch_ms(when, f"streams.{time_column}")
            < to_epoch_ms(pd.Series([pd.Timestamp(before)]), "before")[0]
        )
    user_codes, users = pd.factorize(streams["participant_id"])
    sub = streams.loc[keep]
    u = user_codes[keep]
    k = type_codes(sub["content_type"], types)
    hour, weekend = local_hour_weekend(when[keep], timezone)
    b = hour_block_index(hour, hour_blocks)
    d, classes = device_class_codes(sub["device"], device_classes)
    fold = local_day_index(when[keep], timezone) % 2
    shape = (len(users), len(hour_blocks), 2, len(classes), len(types), 2)
    flat = np.ravel_multi_index((u, b, weekend.astype(np.int64), d, k, fold), shape)
    folds = np.bincount(flat, minlength=int(np.prod(shape))).reshape(shape).astype(np.float64)
    return ContextCounts(
        users=pd.Index(np.asarray(users, dtype=object)),
        folds=folds,
        types=tuple(types),
        hour_blocks=tuple(int(h) for h in hour_blocks),
        device_classes=device_classes,
        classes=classes,
        timezone=timezone,
        time_column=time_column,
    )


def _check_method(method: str) -> None:
    if method not in CONTEXT_METHODS:
        raise ValueError(
            f"preferences.shrinkage must be one of {list(CONTEXT_METHODS)}, got {method!r}"
        )


def _population(total: np.ndarray) -> np.ndarray:
    """``pi = (T + 1/2) / (N_T + G/2)`` of the module doc from the type totals ``T``."""
    total = np.asarray(total, dtype=np.float64)
    return (total + 0.5) / (total.sum() + 0.5 * total.size)


def shrinkage_strengths(
    counts: ContextCounts, method: str = "marginal_likelihood", total: np.ndarray | None = None
) -> tuple[float, float]:
    """``(alpha_user, alpha_ctx)`` of the module doc estimated from the users of ``counts``.

    ``total`` is the population's type totals ``T`` (default: the totals of ``counts``): with a
    sample of a study's users, pass the study's totals so that the population ``pi`` (and, for
    the likelihood and moment methods, the leave-one-out parent) is the study's. ``crossfit``
    fits each fold's parent on the users given, as it always did.
    """
    _check_method(method)
    cell = counts.folds.sum(axis=-1)
    n_u, g = cell.shape[0], cell.shape[-1]
    user = cell.sum(axis=(1, 2, 3))
    if method == "crossfit":
        return _crossfit_alphas(
            counts.folds[..., 0].reshape(n_u, -1, g), counts.folds[..., 1].reshape(n_u, -1, g)
        )
    total = user.sum(axis=0) if total is None else np.asarray(total, dtype=np.float64)
    population = _population(total)
    loo_pop = (total[None, :] - user + 0.5) / ((total.sum() - user.sum(axis=1))[:, None] + 0.5 * g)
    alpha_user = estimate_strength(user, loo_pop, method)
    flat_cells = cell.reshape(n_u, -1, g)
    uu, cc = np.nonzero(flat_cells.sum(axis=2) > 0)
    n_cells = flat_cells[uu, cc]
    rest = user[uu] - n_cells
    loo_user = (rest + alpha_user * population) / (rest.sum(axis=1, keepdims=True) + alpha_user)
    return alpha_user, estimate_strength(n_cells, loo_user, method)


def profiles_with_strengths(
    counts: ContextCounts,
    alpha_user: float,
    alpha_context: float,
    *,
    total: np.ndarray | None = None,
    method: str = "marginal_likelihood",
) -> ContextProfiles:
    """The profiles of the module doc for the users of ``counts`` with given prior strengths and
    population totals ``T`` (default: the totals of ``counts``).

    Every user's profiles depend on the other users only through ``T`` and the two strengths, so
    a study's profiles are computed shard by shard with the study's ``T`` and strengths
    (:mod:`prefcal.preferences.combine`).
    """
    _check_method(method)
    cell = counts.folds.sum(axis=-1)
    user = cell.sum(axis=(1, 2, 3))
    total = user.sum(axis=0) if total is None else np.asarray(total, dtype=np.float64)
    population = _population(total)
    user_shrunk = (user + alpha_user * population) / (user.sum(axis=1, keepdims=True) + alpha_user)
    return ContextProfiles(
        users=counts.users,
        types=counts.types,
        hour_blocks=counts.hour_blocks,
        device_classes=counts.device_classes,
        classes=counts.classes,
        timezone=counts.timezone,
        time_column=counts.time_column,
        cell_counts=cell,
        user_counts=user,
        population=population,
        user_shrunk=user_shrunk,
        alpha_user=float(alpha_user),
        alpha_context=float(alpha_context),
        method=method,
    )


def profiles_from_counts(
    counts: ContextCounts, method: str = "marginal_likelihood"
) -> ContextProfiles:
    """The profiles of the module doc from the counts (``method``: how alpha is estimated):
    :func:`profiles_with_strengths` with the strengths of :func:`shrinkage_strengths`."""
    alpha_user, alpha_context = shrinkage_strengths(counts, method)
    return profiles_with_strengths(counts, alpha_user, alpha_context, method=method)


def context_profiles(
    streams: pd.DataFrame,
    *,
    hour_blocks: Sequence[int] = (0, 6, 10, 14, 18, 22),
    types: Sequence[str] = DEFAULT_TYPES,
    device_classes: Mapping[str, str] | None = None,
    timezone: str = "UTC",
    time_column: str = "t_play",
    min_ms_played: int = 30_000,
    exclude_skips: bool = False,
    method: str = "marginal_likelihood",
    before: pd.Timestamp | None = None,
) -> ContextProfiles:
    """Estimate the profiles of the module doc from ``streams`` (only those before ``before``):
    :func:`profiles_from_counts` of :func:`context_counts`."""
    _check_method(method)
    counts = context_counts(
        streams,
        hour_blocks=hour_blocks,
        types=types,
        device_classes=device_classes,
        timezone=timezone,
        time_column=time_column,
        min_ms_played=min_ms_played,
        exclude_skips=exclude_skips,
        before=before,
    )
    return profiles_from_counts(counts, method)
