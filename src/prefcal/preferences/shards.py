"""Stage 03 shard by shard: per-user features of one shard, combined for the whole study.

Everything stage 03 computes from streams is a function of per-user summaries, so each shard of
users is summarised on its own (one Snakemake job per shard, one shard's streams in memory) and the
summaries are combined by concatenation; the results equal those computed from all streams at once
(a test checks it):

* ``user_windows`` and ``descriptors``: one row per participant (:mod:`prefcal.preferences.stage`);
* ``context_counts_{W}d``: the :class:`~prefcal.preferences.context.ContextCounts` of the streams
  of each window ``[t_eval - W days, t_eval)``, from which the shrinkage strengths (estimated over
  all users) and the context profiles follow (:func:`profiles_from_shards`).

``t_eval`` (:func:`prefcal.preferences.stage.evaluation_time`: the UTC midnight after the end of
the last play of ANY shard, on the client's clock) must be the same for every shard. The workflow
computes it once (:func:`evaluation_summary`, rule ``evaluation_time``: four columns of every
shard, read one batch of rows at a time) and writes it to ``t_eval.json``
(:meth:`EvaluationTime.write`), which every shard's job reads (:func:`read_evaluation_time`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from prefcal.preferences.context import ContextCounts, ContextProfiles, context_counts
from prefcal.preferences.params import PreferenceParams

__all__ = [
    "EvaluationTime",
    "ShardFeatures",
    "checked_feature_paths",
    "evaluation_summary",
    "evaluation_time_of_shards",
    "participant_streams",
    "profiles_from_shards",
    "read_evaluation_time",
    "read_item_taste",
    "read_shard_counts",
    "read_shard_features",
    "shard_feature_paths",
    "shard_features",
    "write_all_shard_features",
    "write_shard_features",
]


@dataclass
class ShardFeatures:
    """Per-user summaries of some users (one shard, or all shards combined)."""

    user_windows: pd.DataFrame
    descriptors: pd.DataFrame
    counts: dict[str, ContextCounts]  # window label (e.g. "90d") -> counts


#: rows per batch when scanning the shards for t_eval (four int64-sized columns: ~32 MB)
EVAL_BATCH_ROWS = 1 << 20


@dataclass(frozen=True)
class EvaluationTime:
    """The study's ``t_eval`` (:func:`prefcal.preferences.stage.evaluation_time`) and what it
    leaves out, as written to ``t_eval.json``.

    ``last_play_end`` is ``max_i e_i`` (the end of the last play on the client's clock),
    ``last_ts_end`` the latest logged ``ts_end``; ``n_logged_after`` counts the streams whose
    ``preferences.time_column`` (``ts_end`` by default) is at or after ``t_eval``: played before
    ``t_eval`` but logged (synced) at or after it, so left out of every window.
    ``streams`` are the files it was computed from.
    """

    t_eval: pd.Timestamp
    last_play_end: pd.Timestamp
    last_ts_end: pd.Timestamp
    n_streams: int
    n_logged_after: int
    streams: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``t_eval.json`` (timestamps in ISO 8601, UTC)."""
        return {
            "definition": "t_eval = floor_day(max_i e_i) + 1 day (UTC), e_i = min(t_play_i + "
            "ms_played_i, ts_end_i), t_play = min(offline_ts, ts_start) for offline plays whose "
            "offline_ts lies within 30 days before ts_start, else ts_start "
            "(prefcal.tables.play_time)",
            "t_eval": self.t_eval.isoformat(),
            "last_play_end": self.last_play_end.isoformat(),
            "last_ts_end": self.last_ts_end.isoformat(),
            "n_streams": self.n_streams,
            "n_logged_after_t_eval": self.n_logged_after,
            "streams": list(self.streams),
        }

    def write(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as JSON to ``path``; returns it."""
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return out


def read_evaluation_time(path: str | Path) -> EvaluationTime:
    """The :class:`EvaluationTime` written to ``path`` by :meth:`EvaluationTime.write`."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(
            f"t_eval file {p} does not exist (written by `prefcal preferences evaluation-time`)"
        )
    try:
        d = json.loads(p.read_text())
        return EvaluationTime(
            t_eval=pd.Timestamp(d["t_eval"]).tz_convert("UTC"),
            last_play_end=pd.Timestamp(d["last_play_end"]).tz_convert("UTC"),
            last_ts_end=pd.Timestamp(d["last_ts_end"]).tz_convert("UTC"),
            n_streams=int(d["n_streams"]),
            n_logged_after=int(d["n_logged_after_t_eval"]),
            streams=tuple(str(s) for s in d.get("streams", ())),
        )
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{p} is not a t_eval file ({type(exc).__name__}: {exc})") from exc


def _to_ms(value: object) -> int:
    """An int (epoch ms already) or a timestamp as epoch milliseconds."""
    return value if isinstance(value, int) else int(pd.Timestamp(value).value // 1_000_000)


def _eval_columns(path: Path) -> list[str]:
    """The columns of :data:`~prefcal.preferences.stage.EVALUATION_TIME_COLUMNS` in the file."""
    from prefcal.preferences import stage

    if not path.is_file():
        raise FileNotFoundError(f"shard table {path} does not exist")
    names = set(pq.ParquetFile(path).schema_arrow.names)
    if "ts_end" not in names:
        raise ValueError(f"{path}: no column 'ts_end'")
    return [c for c in stage.EVALUATION_TIME_COLUMNS if c in names]


def _last_ends(paths: Sequence[str | Path]) -> tuple[int | None, int | None, int]:
    """``(max e_i, max ts_end, number of rows)`` over the files (epoch ms; None when empty),
    reading the needed columns one batch of rows at a time."""
    from prefcal.preferences import stage

    ends: list[int] = []
    logged: list[int] = []
    n = 0
    for p in paths:
        cols = _eval_columns(Path(p))
        for batch in pq.ParquetFile(p).iter_batches(batch_size=EVAL_BATCH_ROWS, columns=cols):
            table = pa.Table.from_batches([batch])
            n += table.num_rows
            end = pc.max(stage.play_end_ms(table)).as_py()
            ts = pc.max(table["ts_end"]).as_py()
            if end is not None:
                ends.append(int(end))
            if ts is not None:
                logged.append(_to_ms(ts))
    return max(ends, default=None), max(logged, default=None), n


def _count_logged_from(paths: Sequence[str | Path], t_ms: int, column: str = "ts_end") -> int:
    """Rows with ``column >= t_ms``; row groups whose statistics say none are not read."""
    count = 0
    for p in paths:
        pf = pq.ParquetFile(p)
        if column not in pf.schema_arrow.names:
            raise ValueError(f"{p}: no column {column!r} (preferences.time_column)")
        j = pf.schema_arrow.names.index(column)
        for r in range(pf.metadata.num_row_groups):
            st = pf.metadata.row_group(r).column(j).statistics
            if st is not None and st.has_min_max and _to_ms(st.max) < t_ms:
                continue
            ts = pf.read_row_group(r, columns=[column]).column(column)
            t = pa.scalar(pd.Timestamp(t_ms, unit="ms", tz="UTC"), ts.type)
            count += int(pc.sum(pc.greater_equal(ts, t)).as_py() or 0)
    return count


def evaluation_time_of_shards(paths: Sequence[str | Path]) -> pd.Timestamp:
    """``t_eval`` of all shards' streams, the same as
    :func:`prefcal.preferences.stage.evaluation_time` of all streams at once (one pass over the
    columns ``ts_end``, ``ms_played``, ``offline``, ``offline_ts``, one batch of rows at a time)."""
    from prefcal.preferences import stage

    last_end, _, _ = _last_ends(paths)
    if last_end is None:
        raise ValueError("every shard's streams table is empty: no evaluation time")
    return stage.day_after(last_end)


def evaluation_summary(paths: Sequence[str | Path], time_column: str = "ts_end") -> EvaluationTime:
    """:class:`EvaluationTime` of all shards' streams: :func:`evaluation_time_of_shards` plus the
    latest ``ts_end`` and the number of streams the windows leave out, those with
    ``time_column >= t_eval`` (``preferences.time_column``; a second pass that reads that column
    only of the row groups whose statistics reach ``t_eval``)."""
    from prefcal.preferences import stage

    last_end, last_ts, n = _last_ends(paths)
    if last_end is None or last_ts is None:
        raise ValueError("every shard's streams table is empty: no evaluation time")
    t_eval = stage.day_after(last_end)
    return EvaluationTime(
        t_eval=t_eval,
        last_play_end=pd.Timestamp(last_end, unit="ms", tz="UTC"),
        last_ts_end=pd.Timestamp(last_ts, unit="ms", tz="UTC"),
        n_streams=n,
        n_logged_after=_count_logged_from(paths, _to_ms(t_eval), time_column),
        streams=tuple(str(p) for p in paths),
    )


def _counts_kwargs(params: PreferenceParams) -> dict:
    kw = params.context_kwargs()
    kw.pop("method")
    return kw


def shard_features(
    streams: pd.DataFrame,
    t_eval: pd.Timestamp,
    params: PreferenceParams,
    taste: tuple[np.ndarray, np.ndarray] | None = None,
) -> ShardFeatures:
    """The summaries of one shard's streams at ``t_eval`` (module doc), or, with
    ``preferences.evaluation_time: per_participant``, at each participant's own time
    (:func:`prefcal.preferences.stage.participant_times`; a shard holds whole participants)."""
    from prefcal.preferences import stage  # stage imports this module

    t = stage.participant_times(streams) if params.evaluation_time == "per_participant" else t_eval
    windows = stage.user_windows(streams, t, params, taste)
    descriptors = stage.descriptors_table(streams, t, params, taste)
    counts = {
        stage.window_label(w): context_counts(
            stage.window_streams(streams, t, w, params.time_column), **_counts_kwargs(params)
        )
        for w in params.windows
    }
    return ShardFeatures(windows, descriptors, counts)


def read_item_taste(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``(item_uri, dist)`` of stage 02's ``item_taste.parquet`` (``dist``: columns ``p_*``),
    the taste lookup of :func:`shard_features`."""
    item_taste = pd.read_parquet(path)
    dist_cols = [c for c in item_taste.columns if c.startswith("p_")]
    return item_taste["item_uri"].to_numpy(dtype=object), item_taste[dist_cols].to_numpy()


def write_all_shard_features(
    stream_paths: Sequence[str | Path],
    t_eval: pd.Timestamp,
    params: PreferenceParams,
    taste: tuple[np.ndarray, np.ndarray] | None,
    out_dir: str | Path,
) -> list[Path]:
    """What the workflow's per-shard jobs do, one shard after the other (a run by hand): the
    summaries of ``stream_paths[i]`` go to ``out_dir/shard_{i:03d}``; returns those folders."""
    from prefcal.clustering.stage import read_shards
    from prefcal.preferences import stage

    dirs = []
    for i, path in enumerate(stream_paths):
        streams = read_shards([path], columns=list(stage.STREAM_COLUMNS))
        dirs.append(Path(out_dir) / f"shard_{i:03d}")
        write_shard_features(shard_features(streams, t_eval, params, taste), dirs[-1], params)
    return dirs


def shard_feature_paths(shard_dir: str | Path, params: PreferenceParams) -> dict[str, Path]:
    """The files of one shard's summaries under ``shard_dir``."""
    from prefcal.preferences import stage

    d = Path(shard_dir)
    out = {"user_windows": d / "user_windows.parquet", "descriptors": d / "descriptors.parquet"}
    for w in params.windows:
        label = stage.window_label(w)
        out[f"counts_{label}"] = d / f"context_counts_{label}.parquet"
    return out


def write_shard_features(features: ShardFeatures, shard_dir: str | Path, params: PreferenceParams):
    """Write one shard's summaries (Parquet) to ``shard_dir``; returns the paths."""
    paths = shard_feature_paths(shard_dir, params)
    Path(shard_dir).mkdir(parents=True, exist_ok=True)
    frames = {"user_windows": features.user_windows, "descriptors": features.descriptors}
    frames.update({f"counts_{k}": c.to_frame() for k, c in features.counts.items()})
    for key, frame in frames.items():
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), paths[key])
    return paths


def checked_feature_paths(shard_dir: str | Path, params: PreferenceParams) -> dict[str, Path]:
    """:func:`shard_feature_paths`, after checking that every file is there."""
    paths = shard_feature_paths(shard_dir, params)
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"missing preference feature file(s): {', '.join(missing)}")
    return paths


def read_shard_counts(shard_dir: str | Path, params: PreferenceParams) -> dict[str, ContextCounts]:
    """The context counts of one shard's summaries, per window label (``"90d"``)."""
    from prefcal.preferences import stage

    paths = checked_feature_paths(shard_dir, params)
    kw = {
        k: v
        for k, v in _counts_kwargs(params).items()
        if k not in ("min_ms_played", "exclude_skips")
    }
    return {
        stage.window_label(w): ContextCounts.from_frame(
            pd.read_parquet(paths[f"counts_{stage.window_label(w)}"]), **kw
        )
        for w in params.windows
    }


def read_shard_features(
    shard_dirs: Sequence[str | Path], params: PreferenceParams
) -> ShardFeatures:
    """The shards' summaries combined: rows and users sorted by participant id."""
    from prefcal.preferences import stage

    if not shard_dirs:
        raise ValueError("no shard feature folders given")
    windows, descriptors, counts = [], [], {stage.window_label(w): [] for w in params.windows}
    for d in shard_dirs:
        paths = checked_feature_paths(d, params)
        windows.append(pd.read_parquet(paths["user_windows"]))
        descriptors.append(pd.read_parquet(paths["descriptors"]))
        for label, c in read_shard_counts(d, params).items():
            counts[label].append(c)

    def combine(frames: list[pd.DataFrame]) -> pd.DataFrame:
        frame = pd.concat(frames, ignore_index=True)
        return frame.sort_values("participant_id", kind="stable", ignore_index=True)

    return ShardFeatures(
        combine(windows),
        combine(descriptors),
        {label: ContextCounts.concat(parts) for label, parts in counts.items()},
    )


def participant_streams(
    paths: Sequence[str | Path], participant_id: str, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """The streams of one participant (in file order), read shard by shard with a row filter;
    an empty frame with the columns when nobody has that id."""
    frames = [
        pq.read_table(
            p,
            columns=list(columns) if columns else None,
            filters=[("participant_id", "==", participant_id)],
        ).to_pandas()
        for p in paths
    ]
    return pd.concat(frames, ignore_index=True)


def profiles_from_shards(
    features: ShardFeatures, params: PreferenceParams
) -> tuple[dict[str, pd.DataFrame], dict[str, ContextProfiles]]:
    """``(static, context)`` of :func:`prefcal.preferences.stage.estimate_profiles` from the
    combined summaries."""
    from prefcal.preferences import stage

    return stage.profiles_from_features(features.user_windows, features.counts, params)
