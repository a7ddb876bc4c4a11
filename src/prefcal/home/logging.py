r"""Logged Home data: the epsilon-greedy logging policy, its impressions, and the Parquet tables.

Logging policy
    An epsilon-greedy policy over the arm grid of content-type mixes (:func:`simplex_grid` with
    step ``home.arm_step``): with probability ``1 - eps`` it plays the *greedy* arm, the arm nearest
    (L1, ties to the lowest index) to the user's ``home.logging.history_window``-day type shares
    (the incumbent "calibrate to history" recommender), and with probability ``eps`` a uniformly
    random arm, so ``pi_0(a | x) = (1 - eps) 1[a = greedy] + eps / A`` exactly. The arm's mix is the
    target of Steck's greedy slate builder (``home.lam``, ``home.alpha``). Its exact propensity is
    logged with every request.

Per shard, ``prefcal home log`` writes (schemas below):

``log_requests.parquet`` (one row per logged Home request)
    ``request_id`` (``<participant_id>-L<no>``), ``participant_id``, ``request_no``, ``ts``
    (timestamp[ms, UTC]), ``hour`` (int8), ``weekend``, ``device`` (mobile | desktop | speaker |
    tv), ``split`` (train | test: test = the last ``home.test_days`` days), ``arm`` (int16, index of
    the arm grid), ``arm_music`` / ``arm_podcast`` / ``arm_audiobook`` (the arm's mix),
    ``propensity`` (``pi_0(arm | x)``), ``n_streams`` (streams >= 30 s in the slate),
    ``next_day_return`` (bool), the context features ``x_<name>``
    (:func:`prefcal.home.features.feature_names`), and the candidates that reached the slate
    builder: ``cand_item_id`` and ``cand_relevance`` (fixed-size lists of ``J = G K``, type blocks
    of ``K``, best first).
``impressions.parquet`` (one row per slot of a logged slate)
    ``request_id``, ``participant_id``, ``position`` (0-based slot), ``action_id`` (column of the
    candidate lists, ``type * K + rank``), ``item_type``, ``item_id`` (catalogue id within the
    type), ``item_uri`` (the recommended item's Spotify URI: ``spotify:track:`` for music - a
    local file's ``spotify:local:`` URI -, ``spotify:show:`` for a podcast show,
    ``spotify:audiobook:`` for an audiobook; null when the log was written without the catalogue's
    URIs, see :func:`item_uris`), ``relevance``, ``streamed`` (stream >= 30 s).
``ab_requests.parquet`` (requests of the simulated A/B test, in the test days)
    the context columns, features and candidates of ``log_requests`` (no logged outcome).
``participants.parquet``
    ``participant_id`` and ``n_music`` / ``n_podcast`` / ``n_audiobook``: counting streams in the
    ``home.features.profile_days`` days before the Home-log period (the population mix of MB and
    popularity is their sum).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from prefcal.home.candidates import Candidates
from prefcal.home.environment import HomeEnvironment, Outcomes, RequestBatch
from prefcal.home.features import (
    ContextProfiles,
    StreamHistory,
    context_matrix,
    context_profiles,
    feature_names,
    fill_shares,
    window_shares,
)
from prefcal.home.policies import ArmPolicy, SlateInput, nearest_arm
from prefcal.ingest.ids import study_id
from prefcal.policies import simplex_grid
from prefcal.simulate import model
from prefcal.simulate.exports import user_folder

__all__ = [
    "HomeData",
    "build_input",
    "item_uris",
    "logging_policy",
    "participant_ids",
    "read_home_data",
    "simulate_home_data",
    "write_home_data",
]

MS_DAY = 86_400_000
MS_HOUR = 3_600_000


def participant_ids(user_index: np.ndarray, seed: int) -> np.ndarray:
    """Study ids of simulated users: ``study_id(sim_{u:06d}, seed)`` (what the ingest assigns)."""
    return np.asarray([study_id(user_folder(int(u)), int(seed)) for u in user_index], dtype=object)


def logging_policy(arms: np.ndarray, epsilon: float, window: int) -> ArmPolicy:
    """The epsilon-greedy logging policy of the module docstring."""
    n_arms = arms.shape[0]

    def dist(inp: SlateInput) -> np.ndarray:
        greedy = nearest_arm(inp.shares[window], arms)
        out = np.full((inp.n, n_arms), epsilon / n_arms)
        out[np.arange(inp.n), greedy] += 1.0 - epsilon
        return out

    return ArmPolicy("logging", dist)


@dataclass
class HomeData:
    """Requests of one period with what the policies see, and the logged outcomes (log period)."""

    period: str  # "log" | "ab"
    participant_id: np.ndarray  # (n,) object
    batch: RequestBatch
    inp: SlateInput
    names: list[str]  # feature names (columns of inp.X)
    test: np.ndarray  # (n,) bool: held-out day
    arm: np.ndarray | None = None  # (n,) logged arm
    pscore: np.ndarray | None = None  # (n,) logged propensity
    outcomes: Outcomes | None = None

    @property
    def n(self) -> int:
        """Number of requests."""
        return self.batch.n

    def take(self, rows: np.ndarray) -> HomeData:
        """Some requests (e.g. the train or the test split)."""
        r = np.asarray(rows)
        out = None
        if self.outcomes is not None:
            o = self.outcomes
            out = Outcomes(o.slates[r], o.examined[r], o.streamed[r], o.returned[r])
        return HomeData(
            self.period,
            self.participant_id[r],
            self.batch.take(r),
            self.inp.take(r),
            self.names,
            self.test[r],
            None if self.arm is None else self.arm[r],
            None if self.pscore is None else self.pscore[r],
            out,
        )


def build_input(
    env: HomeEnvironment,
    batch: RequestBatch,
    pids: np.ndarray,
    streams: pd.DataFrame,
    profiles: ContextProfiles,
    codes: np.ndarray,
    min_ms_played: int = 30_000,
) -> tuple[SlateInput, list[str]]:
    """The policies' input for ``batch``: window shares, context matrix, candidates' relevance.

    ``pids`` are the requests' participant ids, ``codes`` their rows in ``profiles``.
    """
    s = env.settings
    shares, counts = window_shares(streams, pids, batch.ts_ms, s.windows, min_ms_played)
    filled = fill_shares(shares, profiles.counts[codes])
    hour_frac = ((batch.ts_ms - env.start_ms) % MS_DAY) / MS_HOUR
    x = context_matrix(
        hour_frac, batch.weekend, batch.device, filled, counts[:, -1], codes, profiles
    )
    arms = simplex_grid(s.n_types, s.arm_step)
    inp = SlateInput(
        relevance=batch.cands.relevance,
        X=x,
        shares={w: filled[:, i] for i, w in enumerate(s.windows)},
        arms=arms,
        theta=env.theta,
        lam=s.lam,
        alpha=s.alpha,
    )
    return inp, feature_names(s.windows)


def simulate_home_data(
    env: HomeEnvironment,
    streams: pd.DataFrame,
    rows: np.ndarray | None = None,
    period: str = "log",
    n_per_user: int | None = None,
    min_ms_played: int = 30_000,
    history: StreamHistory | None = None,
    prepared: HomeData | None = None,
) -> tuple[HomeData, ContextProfiles]:
    """Draw requests of ``period`` for the users in ``rows`` and, for ``log``, log them.

    ``streams`` is the canonical streams table holding these users' history (or pass
    ``history`` built from it). Returns the data and the users' context profiles. ``prepared``
    may pass the requests and context of an earlier call with the same users, period, slate
    size and history (only the arm grid, slate builder and logging policy then change; the
    sensitivity runs use it): requests and features are not recomputed.
    """
    s = env.settings
    rows = np.arange(env.params.n) if rows is None else np.asarray(rows, dtype=np.int64)
    pid_of_row = participant_ids(env.params.user_index, s.seed)
    if history is None:
        history = StreamHistory.from_streams(streams, pid_of_row[rows], min_ms_played)
    profiles = context_profiles(
        history,
        env.start_ms + s.log_start_day * MS_DAY,
        s.profile_days,
        s.profile_bandwidth,
        s.profile_shrinkage,
        env.start_weekday,
        env.start_ms,
    )
    if prepared is None:
        batch = env.draw_requests(rows, period, n_per_user)
        pids = pid_of_row[batch.user_row]
        codes = history.codes_of(pids)
        inp, names = build_input(env, batch, pids, streams, profiles, codes, min_ms_played)
    else:
        batch, pids, names = prepared.batch, prepared.participant_id, prepared.names
        if batch.cands.relevance.shape[1] != s.n_actions:
            raise ValueError("prepared requests have another slate size than the settings")
        p = prepared.inp
        inp = SlateInput(
            p.relevance,
            p.X,
            p.shares,
            simplex_grid(s.n_types, s.arm_step),
            env.theta,
            s.lam,
            s.alpha,
        )
    data = HomeData(period, pids, batch, inp, names, batch.day >= s.test_start_day)
    if period == "log":
        logger = logging_policy(inp.arms, s.logging_epsilon, s.logging_window)
        u = env.outcome_uniforms(batch, "log")
        arm, pscore = logger.sample_arms(inp, u[:, 0])
        slates = inp.slates_for_arms(arm)
        data.arm, data.pscore = arm, pscore
        data.outcomes = env.draw_outcomes(batch, slates, u)
    return data, profiles


# ---------------------------------------------------------------------------------------- I/O
def _fixed_list(values: np.ndarray, typ: pa.DataType) -> pa.FixedSizeListArray:
    flat = pa.array(np.ascontiguousarray(values).reshape(-1), type=typ)
    return pa.FixedSizeListArray.from_arrays(flat, values.shape[1])


def _request_table(data: HomeData, env: HomeEnvironment) -> pa.Table:
    b = data.batch
    tag = "L" if data.period == "log" else "A"
    request_id = [
        f"{p}-{tag}{int(r):04d}" for p, r in zip(data.participant_id, b.request_no, strict=True)
    ]
    cols: dict[str, pa.Array] = {
        "request_id": pa.array(request_id, pa.string()),
        "participant_id": pa.array(data.participant_id.tolist(), pa.string()),
        "request_no": pa.array(b.request_no.astype(np.int32)),
        "ts": pa.array(b.ts_ms.astype("datetime64[ms]"), pa.timestamp("ms", tz="UTC")),
        "hour": pa.array(b.hour.astype(np.int8)),
        "weekend": pa.array(b.weekend),
        "device": pa.array(np.asarray(model.DEVICES, dtype=object)[b.device].tolist(), pa.string()),
        "split": pa.array(np.where(data.test, "test", "train").tolist(), pa.string()),
    }
    if data.period == "log":
        o = data.outcomes
        assert o is not None and data.arm is not None and data.pscore is not None
        cols["arm"] = pa.array(data.arm.astype(np.int16))
        for g, t in enumerate(model.CONTENT_TYPES):
            cols[f"arm_{t}"] = pa.array(data.inp.arms[data.arm, g])
        cols["propensity"] = pa.array(data.pscore)
        cols["n_streams"] = pa.array(o.streamed.sum(axis=1).astype(np.int8))
        cols["next_day_return"] = pa.array(o.returned)
    for j, name in enumerate(data.names):
        cols[f"x_{name}"] = pa.array(data.inp.X[:, j])
    cols["cand_item_id"] = _fixed_list(b.cands.item_id.astype(np.int32), pa.int32())
    cols["cand_relevance"] = _fixed_list(b.cands.relevance, pa.float64())
    return pa.table(cols)


def item_uris(cat_dir: str | Path) -> tuple[np.ndarray, ...]:
    """Spotify URIs of the Home items per content type (music, podcast, audiobook), indexed by the
    catalogue id within the type: tracks (``uri``, or ``local_uri`` for a local file), shows,
    audiobooks of the truth catalogue directory ``cat_dir``."""
    d = Path(cat_dir)
    out = []
    for name, cols in (
        ("tracks", ["uri", "local_uri"]),
        ("shows", ["uri"]),
        ("audiobooks", ["uri"]),
    ):
        path = d / f"{name}.parquet"
        if not path.exists():
            raise FileNotFoundError(f"catalogue table {path} is missing (needed for item URIs)")
        t = pq.read_table(path, columns=cols)
        uri = t.column("uri")
        if "local_uri" in cols:
            uri = pc.coalesce(uri, t.column("local_uri"))
        out.append(np.asarray(uri.to_pylist(), dtype=object))
    return tuple(out)


def _impression_uris(
    item_id: np.ndarray, type_id: np.ndarray, uris: tuple[np.ndarray, ...] | None
) -> pa.Array:
    """The ``item_uri`` column: the URI of catalogue item ``item_id`` of type ``type_id``."""
    if uris is None:
        return pa.nulls(item_id.size, pa.string())
    out = np.empty(item_id.size, dtype=object)
    for g, table in enumerate(uris):
        sel = type_id == g
        ids = item_id[sel]
        if ids.size and (ids.min() < 0 or ids.max() >= table.size):
            raise ValueError(
                f"item URIs: a {model.CONTENT_TYPES[g]} item id is outside the catalogue "
                f"({table.size} items): wrong --catalogue?"
            )
        out[sel] = table[ids]
    return pa.array(out.tolist(), pa.string())


def _impression_table(data: HomeData, uris: tuple[np.ndarray, ...] | None = None) -> pa.Table:
    o = data.outcomes
    assert o is not None
    n, k = o.slates.shape
    req = np.repeat(np.arange(n), k)
    tag = [
        f"{p}-L{int(r):04d}"
        for p, r in zip(data.participant_id, data.batch.request_no, strict=True)
    ]
    action = o.slates.reshape(-1)
    types = np.repeat(np.arange(len(model.CONTENT_TYPES)), data.inp.k)[action]
    item_id = data.batch.cands.item_id[req, action].astype(np.int64)
    return pa.table(
        {
            "request_id": pa.array(np.asarray(tag, dtype=object)[req].tolist(), pa.string()),
            "participant_id": pa.array(data.participant_id[req].tolist(), pa.string()),
            "position": pa.array(np.tile(np.arange(k), n).astype(np.int8)),
            "action_id": pa.array(action.astype(np.int16)),
            "item_type": pa.array(
                np.asarray(model.CONTENT_TYPES, dtype=object)[types].tolist(), pa.string()
            ),
            "item_id": pa.array(item_id.astype(np.int32)),
            "item_uri": _impression_uris(item_id, types, uris),
            "relevance": pa.array(data.batch.cands.relevance[req, action]),
            "streamed": pa.array(o.streamed.reshape(-1)),
        }
    )


def write_home_data(
    out_dir: str | Path,
    env: HomeEnvironment,
    log: HomeData,
    ab: HomeData,
    profiles: ContextProfiles,
    history: StreamHistory,
    uris: tuple[np.ndarray, ...] | None = None,
) -> None:
    """Write the four tables of the module docstring into ``out_dir``.

    ``uris`` (:func:`item_uris` of the catalogue) fills the impressions' ``item_uri`` column.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(_request_table(log, env), out / "log_requests.parquet")
    pq.write_table(_impression_table(log, uris), out / "impressions.parquet")
    pq.write_table(_request_table(ab, env), out / "ab_requests.parquet")
    part = {"participant_id": pa.array(history.participants.tolist(), pa.string())}
    for g, t in enumerate(model.CONTENT_TYPES):
        part[f"n_{t}"] = pa.array(profiles.counts[:, g].astype(np.int64))
    pq.write_table(pa.table(part), out / "participants.parquet")


def _lists(table: pa.Table, col: str) -> np.ndarray:
    arr = table.column(col).combine_chunks()
    return arr.flatten().to_numpy().reshape(len(arr), arr.type.list_size)


def _read_period(
    path: Path,
    env: HomeEnvironment,
    period: str,
    impressions: pa.Table | None,
    filters: list | None = None,
) -> HomeData:
    s = env.settings
    t = pq.read_table(path, filters=filters)
    pids = np.asarray(t.column("participant_id").to_pylist(), dtype=object)
    pid_of_row = participant_ids(env.params.user_index, s.seed)
    row_of_pid = pd.Index(pid_of_row).get_indexer(pids)
    if np.any(row_of_pid < 0):
        raise ValueError(
            f"{path}: participant {pids[row_of_pid < 0][0]} is not a simulated user of the truth "
            "directories given (wrong --truth-users or seed?)"
        )
    ts = t.column("ts").cast(pa.int64()).to_numpy()
    day = (ts - env.start_ms) // MS_DAY
    hour = t.column("hour").to_numpy().astype(np.int64)
    device = pd.Index(model.DEVICES).get_indexer(np.asarray(t.column("device").to_pylist()))
    item_id = _lists(t, "cand_item_id").astype(np.int64)
    k = s.slate_size
    if item_id.shape[1] != s.n_actions:
        raise ValueError(
            f"{path}: candidate lists hold {item_id.shape[1]} items, home.slate_size = {k} "
            f"needs {s.n_actions} (was the log written with another config?)"
        )
    blocks = np.arange(s.n_actions) // k
    genre = np.empty_like(item_id)
    minutes = np.empty(item_id.shape)
    for g in range(s.n_types):
        cols = blocks == g
        genre[:, cols] = env.catalogue.genre[g][item_id[:, cols]]
        minutes[:, cols] = env.catalogue.minutes[g][item_id[:, cols]]
    cands = Candidates(item_id, _lists(t, "cand_relevance"), genre, minutes)
    batch = RequestBatch(
        user_row=row_of_pid.astype(np.int64),
        request_no=t.column("request_no").to_numpy().astype(np.int64),
        ts_ms=ts,
        day=day,
        hour=hour,
        weekend=t.column("weekend").to_numpy(zero_copy_only=False).astype(bool),
        device=device.astype(np.int64),
        tau=(day + hour / 24.0) / s.days,
        cands=cands,
    )
    names = feature_names(s.windows)
    x = np.column_stack([t.column(f"x_{n}").to_numpy() for n in names])
    n_t = s.n_types
    shares = {
        w: x[:, [names.index(f"s{w}_{typ}") for typ in model.CONTENT_TYPES]] for w in s.windows
    }
    inp = SlateInput(
        cands.relevance, x, shares, simplex_grid(n_t, s.arm_step), env.theta, s.lam, s.alpha
    )
    test = np.asarray(t.column("split").to_pylist(), dtype=object) == "test"
    data = HomeData(period, pids, batch, inp, names, test)
    if period == "log":
        assert impressions is not None
        n = t.num_rows
        imp_req = pd.Index(np.asarray(t.column("request_id").to_pylist(), dtype=object))
        rid = imp_req.get_indexer(np.asarray(impressions.column("request_id").to_pylist()))
        pos = impressions.column("position").to_numpy().astype(np.int64)
        if np.any(rid < 0) or len(rid) != n * k:
            raise ValueError(f"{path.parent / 'impressions.parquet'} does not match {path.name}")
        slates = np.full((n, k), -1, dtype=np.int64)
        streamed = np.zeros((n, k), dtype=bool)
        slates[rid, pos] = impressions.column("action_id").to_numpy()
        streamed[rid, pos] = impressions.column("streamed").to_numpy(zero_copy_only=False)
        data.arm = t.column("arm").to_numpy().astype(np.int64)
        data.pscore = t.column("propensity").to_numpy()
        returned = t.column("next_day_return").to_numpy(zero_copy_only=False).astype(bool)
        data.outcomes = Outcomes(slates, np.zeros((n, k), dtype=bool), streamed, returned)
    return data


def read_home_data(
    dirs: list[str | Path], env: HomeEnvironment, participants: np.ndarray | None = None
) -> tuple[HomeData, HomeData, np.ndarray]:
    """Read the shards written by :func:`write_home_data`: ``(log, ab, population counts (G,))``.

    ``env`` must hold the shards' users (truth); examinations are not logged (zeros).
    ``participants`` restricts the requests read to these participant ids (only their rows are
    read); the population counts are always those of every participant.
    """
    logs, abs_, pop = [], [], np.zeros(len(model.CONTENT_TYPES), dtype=np.int64)
    filters = None
    if participants is not None:
        filters = [("participant_id", "in", [str(p) for p in participants])]
    for d in dirs:
        p = Path(d)
        for name in ("log_requests", "impressions", "ab_requests", "participants"):
            if not (p / f"{name}.parquet").exists():
                raise FileNotFoundError(f"{p / name}.parquet is missing (run `prefcal home log`)")
        imp = pq.read_table(p / "impressions.parquet", filters=filters)
        logs.append(_read_period(p / "log_requests.parquet", env, "log", imp, filters))
        abs_.append(_read_period(p / "ab_requests.parquet", env, "ab", None, filters))
        part = pq.read_table(p / "participants.parquet")
        pop += np.array(
            [int(np.sum(part.column(f"n_{t}").to_numpy())) for t in model.CONTENT_TYPES]
        )
    return (
        canonical_order(concat_home_data(logs), env),
        canonical_order(concat_home_data(abs_), env),
        pop,
    )


def canonical_order(data: HomeData, env: HomeEnvironment) -> HomeData:
    """The requests sorted by (simulated user index ``u``, request number): an order that does not
    depend on how the users were split into shards, so every later draw (A/B test, bootstrap)
    and every result is the same for 1 or 8 shards."""
    user = np.asarray(env.params.user_index)[data.batch.user_row]
    order = np.lexsort((data.batch.request_no, user))
    if np.array_equal(order, np.arange(order.size)):
        return data
    return data.take(order)


def concat_home_data(parts: list[HomeData]) -> HomeData:
    """Stack the data of several shards (same period)."""
    if len(parts) == 1:
        return parts[0]
    first = parts[0]

    def cat(name: str) -> np.ndarray | None:
        vals = [getattr(p, name) for p in parts]
        return None if vals[0] is None else np.concatenate(vals)

    batch = RequestBatch(
        *(
            np.concatenate([getattr(p.batch, f) for p in parts])
            for f in ("user_row", "request_no", "ts_ms", "day", "hour", "weekend", "device", "tau")
        ),
        cands=Candidates.concat([p.batch.cands for p in parts]),
    )
    inp = SlateInput(
        np.concatenate([p.inp.relevance for p in parts]),
        np.concatenate([p.inp.X for p in parts]),
        {w: np.concatenate([p.inp.shares[w] for p in parts]) for w in first.inp.shares},
        first.inp.arms,
        first.inp.theta,
        first.inp.lam,
        first.inp.alpha,
    )
    out = None
    if first.outcomes is not None:
        out = Outcomes(
            *(
                np.concatenate([getattr(p.outcomes, f) for p in parts])
                for f in ("slates", "examined", "streamed", "returned")
            )
        )
    return HomeData(
        first.period,
        np.concatenate([p.participant_id for p in parts]),
        batch,
        inp,
        first.names,
        np.concatenate([p.test for p in parts]),
        cat("arm"),
        cat("pscore"),
        out,
    )
