"""Stage 03 shard by shard: per-user features of one shard, combined for the whole study.

Everything stage 03 computes from streams is a function of per-user summaries, so each shard of
users is summarised on its own (one Snakemake job per shard, one shard's streams in memory) and the
summaries are combined by concatenation; the results equal those computed from all streams at once
(a test checks it):

* ``user_windows`` and ``descriptors``: one row per participant (:mod:`prefcal.preferences.stage`);
* ``context_counts_{W}d``: the :class:`~prefcal.preferences.context.ContextCounts` of the streams
  of each window ``[t_eval - W days, t_eval)``, from which the shrinkage strengths (estimated over
  all users) and the context profiles follow (:func:`profiles_from_shards`).

``t_eval`` (the UTC midnight after the last stream of ANY shard) must be the same for every shard:
:func:`evaluation_time_of_shards` reads it from the Parquet column statistics of all shards'
``ts_end`` (the column is read only where a file has no statistics).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from prefcal.preferences.context import ContextCounts, ContextProfiles, context_counts
from prefcal.preferences.params import PreferenceParams

__all__ = [
    "ShardFeatures",
    "checked_feature_paths",
    "evaluation_time_of_shards",
    "participant_streams",
    "profiles_from_shards",
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


def _to_ms(value: object) -> int:
    """An int (epoch ms already) or a timestamp as epoch milliseconds."""
    return value if isinstance(value, int) else int(pd.Timestamp(value).value // 1_000_000)


def _column_max(path: Path, column: str) -> int | None:
    """Max of an int64/timestamp column of a Parquet file in epoch ms, from its row-group
    statistics (the column is read only where a row group has none); None when empty."""
    meta = pq.ParquetFile(path).metadata
    if meta.num_rows == 0:
        return None
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    if column not in names:
        raise ValueError(f"{path}: no column {column!r}")
    j = names.index(column)
    stats = [meta.row_group(r).column(j).statistics for r in range(meta.num_row_groups)]
    if all(st is not None and st.has_min_max for st in stats):
        return max(_to_ms(st.max) for st in stats)
    return _to_ms(pc.max(pq.read_table(path, columns=[column]).column(column)).as_py())


def evaluation_time_of_shards(
    paths: Sequence[str | Path], time_column: str = "ts_end"
) -> pd.Timestamp:
    """``t_eval``: the UTC midnight after the latest ``time_column`` of all shards' streams (the
    same as :func:`prefcal.preferences.stage.evaluation_time` of all streams at once)."""
    maxima = []
    for p in paths:
        if not Path(p).is_file():
            raise FileNotFoundError(f"shard table {p} does not exist")
        m = _column_max(Path(p), time_column)
        if m is not None:
            maxima.append(m)
    if not maxima:
        raise ValueError("every shard's streams table is empty: no evaluation time")
    last = pd.Timestamp(max(maxima), unit="ms", tz="UTC")
    return last.floor("D") + pd.Timedelta(days=1)


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
    """The summaries of one shard's streams at ``t_eval`` (module doc)."""
    from prefcal.preferences import stage  # stage imports this module

    windows = stage.user_windows(streams, t_eval, params, taste)
    descriptors = stage.descriptors_table(streams, t_eval, params, taste)
    counts = {
        stage.window_label(w): context_counts(
            stage.window_streams(streams, t_eval, w, params.time_column), **_counts_kwargs(params)
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
