"""Per-shard aggregation of the canonical ``streams`` tables (see :mod:`prefcal.overview`).

:func:`summarise_streams` reads each shard's ``streams.parquet`` in record batches (only the
columns it needs), reduces every batch to a :class:`StreamSummary` and combines them. Memory is
bounded by one record batch (and the Parquet row group it comes from) plus the number of users x
24: it does not grow with the number of plays.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from prefcal.tables import (
    CONTENT_TYPES,
    DEVICES,
    PLAY_TIME,
    SOURCE_FORMATS,
    STREAMS_SCHEMA,
    play_time,
)

__all__ = [
    "OPTIONAL_COLUMNS",
    "OVERVIEW_COLUMNS",
    "StreamSummary",
    "combine_summaries",
    "shard_paths",
    "summarise_streams",
]

OVERVIEW_COLUMNS = (
    "participant_id",
    "ts_start",
    "ms_played",
    "content_type",
    "device",
    "source_format",
)


OPTIONAL_COLUMNS = ("offline", "offline_ts")


_CATEGORIES = {
    "content_type": CONTENT_TYPES,
    "device": DEVICES,
    "source_format": SOURCE_FORMATS,
}


_USER_HOUR_COLUMNS = ["participant_id", "hour", "n_plays", "n_podcast"]


StreamsInput = str | Path | pd.DataFrame | pa.Table


@dataclass
class StreamSummary:
    """Additive aggregates of one or more ``streams`` tables (see the module docstring).

    ``user_hour`` has one row per (participant_id, hour) with at least one play of a known
    content type: ``n_plays`` (plays >= min_ms_played whose content type is not ``unknown``) and
    ``n_podcast`` (those that are podcasts).
    """

    min_ms_played: int
    tz: str
    n_streams: int = 0
    n_plays: int = 0
    participants: set[str] = field(default_factory=set)
    ts_min: pd.Timestamp | None = None
    ts_max: pd.Timestamp | None = None
    content_type_streams: Counter = field(default_factory=Counter)
    content_type_plays: Counter = field(default_factory=Counter)
    device_plays: Counter = field(default_factory=Counter)
    source_format_streams: Counter = field(default_factory=Counter)
    user_hour: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(
            {
                "participant_id": pd.Series([], dtype="str"),
                "hour": pd.Series([], dtype="int8"),
                "n_plays": pd.Series([], dtype="int64"),
                "n_podcast": pd.Series([], dtype="int64"),
            }
        )
    )

    @property
    def n_participants(self) -> int:
        """Number of distinct participant ids."""
        return len(self.participants)

    @property
    def date_start(self) -> dt.date | None:
        """Calendar date (in ``tz``) of the earliest play time."""
        return None if self.ts_min is None else self.ts_min.tz_convert(self.tz).date()

    @property
    def date_end(self) -> dt.date | None:
        """Calendar date (in ``tz``) of the latest play time."""
        return None if self.ts_max is None else self.ts_max.tz_convert(self.tz).date()

    def add(self, other: StreamSummary) -> StreamSummary:
        """Combine two summaries (of disjoint sets of rows) into a new one."""
        return combine_summaries([self, other])


def combine_summaries(parts: Sequence[StreamSummary]) -> StreamSummary:
    """One summary of the rows of all ``parts`` (made with the same min_ms_played and tz).

    The per user x hour counts are added in one group-by, so combining many batch summaries at
    once costs about as much as combining two.
    """
    if not parts:
        raise ValueError("combine_summaries needs at least one summary")
    first = parts[0]
    if any((p.min_ms_played, p.tz) != (first.min_ms_played, first.tz) for p in parts):
        raise ValueError("cannot combine summaries made with different min_ms_played or tz")
    mins = [p.ts_min for p in parts if p.ts_min is not None]
    maxs = [p.ts_max for p in parts if p.ts_max is not None]
    out = StreamSummary(min_ms_played=first.min_ms_played, tz=first.tz)
    out.n_streams = sum(p.n_streams for p in parts)
    out.n_plays = sum(p.n_plays for p in parts)
    out.participants = set().union(*(p.participants for p in parts))
    out.ts_min = min(mins) if mins else None
    out.ts_max = max(maxs) if maxs else None
    for name in (
        "content_type_streams",
        "content_type_plays",
        "device_plays",
        "source_format_streams",
    ):
        total: Counter = Counter()
        for p in parts:
            total.update(getattr(p, name))
        setattr(out, name, total)
    out.user_hour = _sum_user_hour([p.user_hour for p in parts])
    return out


class _Accumulator:
    """Collects summaries and combines them when ``every`` are pending or their user x hour
    rows exceed ``max_rows`` (bounded memory, and few group-bys)."""

    def __init__(
        self, min_ms_played: int, tz: str, every: int = 16, max_rows: int = 2_000_000
    ) -> None:
        self.parts = [StreamSummary(min_ms_played=min_ms_played, tz=tz)]
        self.every = every
        self.max_rows = max_rows

    def add(self, part: StreamSummary) -> None:
        self.parts.append(part)
        rows = sum(len(p.user_hour) for p in self.parts)
        if len(self.parts) >= self.every or rows > self.max_rows:
            self.parts = [combine_summaries(self.parts)]

    def result(self) -> StreamSummary:
        return combine_summaries(self.parts)


def _sum_user_hour(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return StreamSummary(0, "UTC").user_hour
    merged = pd.concat(frames, ignore_index=True)
    out = merged.groupby(["participant_id", "hour"], as_index=False, sort=True)[
        ["n_plays", "n_podcast"]
    ].sum()
    out["hour"] = out["hour"].astype("int8")
    out["participant_id"] = out["participant_id"].astype("str")
    return out[_USER_HOUR_COLUMNS].reset_index(drop=True)


def _counts(column: pa.ChunkedArray | pa.Array) -> Counter:
    return Counter({d["values"]: int(d["counts"]) for d in pc.value_counts(column).to_pylist()})


def _first_index(mask: pa.ChunkedArray | pa.Array) -> int:
    return int(pc.index(pc.fill_null(mask, True), True).as_py())


def _validate(table: pa.Table, where: str, row_offset: int) -> None:
    missing = [c for c in OVERVIEW_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"{where}: streams table lacks column(s) {missing}")
    for name in ("participant_id", "ts_start", "ms_played", *_CATEGORIES):
        nulls = table[name].null_count
        if nulls:
            row = row_offset + _first_index(pc.is_null(table[name]))
            raise ValueError(f"{where}: row {row}, field {name}: null ({nulls} null value(s))")
    negative = pc.less(table["ms_played"], 0)
    if pc.any(negative).as_py():
        row = row_offset + _first_index(negative)
        raise ValueError(f"{where}: row {row}, field ms_played: negative value")
    for name, allowed in _CATEGORIES.items():
        bad = pc.invert(pc.is_in(table[name], value_set=pa.array(allowed, pa.string())))
        if pc.any(bad).as_py():
            row = row_offset + _first_index(bad)
            value = table[name][row - row_offset].as_py()
            raise ValueError(
                f"{where}: row {row}, field {name}: {value!r} is not one of {list(allowed)}"
            )


def _summarise_table(
    table: pa.Table, *, min_ms_played: int, tz: str, where: str, row_offset: int = 0
) -> StreamSummary:
    _validate(table, where, row_offset)
    for name in ("ts_start", "offline_ts"):
        if name not in table.column_names:
            continue
        kind = table[name].type
        if not pa.types.is_timestamp(kind) or kind.tz is None:
            raise ValueError(f"{where}: field {name} has type {kind}, expected UTC timestamps")
    ts = play_time(table)
    table = table.select(list(OVERVIEW_COLUMNS)).append_column(PLAY_TIME, ts)
    summary = StreamSummary(min_ms_played=min_ms_played, tz=tz)
    summary.n_streams = table.num_rows
    if table.num_rows == 0:
        return summary
    summary.participants = set(pc.unique(table["participant_id"]).to_pylist())
    bounds = pc.min_max(ts)
    summary.ts_min = pd.Timestamp(bounds["min"].as_py())
    summary.ts_max = pd.Timestamp(bounds["max"].as_py())
    summary.content_type_streams = _counts(table["content_type"])
    summary.source_format_streams = _counts(table["source_format"])

    plays = table.filter(pc.greater_equal(table["ms_played"], min_ms_played))
    summary.n_plays = plays.num_rows
    if plays.num_rows == 0:
        return summary
    summary.content_type_plays = _counts(plays["content_type"])
    summary.device_plays = _counts(plays["device"])
    # per user x hour: plays of a known content type only (legacy account data carry none)
    typed = plays.filter(pc.not_equal(plays["content_type"], "unknown"))
    if typed.num_rows == 0:
        return summary
    hour = pc.hour(typed[PLAY_TIME].cast(pa.timestamp("ms", tz=tz)))
    per_user = (
        pa.table(
            {
                "participant_id": typed["participant_id"],
                "hour": hour,
                "podcast": pc.cast(pc.equal(typed["content_type"], "podcast"), pa.int64()),
            }
        )
        .group_by(["participant_id", "hour"])
        .aggregate([("podcast", "count"), ("podcast", "sum")])
    )
    frame = per_user.to_pandas()
    frame = frame.rename(columns={"podcast_count": "n_plays", "podcast_sum": "n_podcast"})
    summary.user_hour = _sum_user_hour([frame[_USER_HOUR_COLUMNS]])
    return summary


def _summarise_one(
    item: StreamsInput, *, min_ms_played: int, tz: str, batch_size: int, label: str
) -> StreamSummary:
    if isinstance(item, pd.DataFrame):
        missing = [c for c in OVERVIEW_COLUMNS if c not in item.columns]
        if missing:
            raise ValueError(f"{label}: streams table lacks column(s) {missing}")
        columns = [*OVERVIEW_COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in item.columns)]
        schema = pa.schema([STREAMS_SCHEMA.field(c) for c in columns])
        try:
            table = pa.Table.from_pandas(item[columns], schema=schema, preserve_index=False)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ValueError(f"{label}: a column does not fit the streams schema: {exc}") from None
        return _summarise_table(table, min_ms_played=min_ms_played, tz=tz, where=label)
    if isinstance(item, pa.Table):
        return _summarise_table(item, min_ms_played=min_ms_played, tz=tz, where=label)
    path = Path(item)
    if path.is_dir():
        path = path / "streams.parquet"
    if not path.is_file():
        raise FileNotFoundError(f"streams table {path} does not exist (run the ingest first)")
    parquet = pq.ParquetFile(path)
    missing = [c for c in OVERVIEW_COLUMNS if c not in parquet.schema_arrow.names]
    if missing:
        raise ValueError(f"{path}: streams table lacks column(s) {missing}")
    present = parquet.schema_arrow.names
    columns = [*OVERVIEW_COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in present)]
    acc = _Accumulator(min_ms_played, tz)
    offset = 0
    for batch in parquet.iter_batches(batch_size=batch_size, columns=columns):
        table = pa.Table.from_batches([batch])
        acc.add(
            _summarise_table(
                table, min_ms_played=min_ms_played, tz=tz, where=str(path), row_offset=offset
            )
        )
        offset += batch.num_rows
    return acc.result()


def summarise_streams(
    shards: Iterable[StreamsInput],
    *,
    min_ms_played: int = 30_000,
    tz: str = "UTC",
    batch_size: int = 1 << 18,
) -> StreamSummary:
    """Aggregate the ``streams`` tables of all shards (paths, shard folders or tables).

    A path is read in record batches of ``batch_size`` rows. Bad input (a missing column, a
    null id, a negative ``ms_played``, a category outside :mod:`prefcal.tables`' lists) raises
    ValueError naming the file, the row and the field.
    """
    if min_ms_played < 0:
        raise ValueError(f"min_ms_played must be >= 0, got {min_ms_played}")
    acc = _Accumulator(min_ms_played, tz)
    n_inputs = 0
    for i, item in enumerate(shards):
        label = f"streams table #{i}" if isinstance(item, pd.DataFrame | pa.Table) else str(item)
        acc.add(
            _summarise_one(
                item, min_ms_played=min_ms_played, tz=tz, batch_size=batch_size, label=label
            )
        )
        n_inputs += 1
    if n_inputs == 0:
        raise ValueError("summarise_streams needs at least one streams table")
    return acc.result()


def shard_paths(data_dir: str | Path, n_shards: int, name: str = "streams.parquet") -> list[Path]:
    """``data_dir/shard_000/name`` ... for the ``n_shards`` shards of the config.

    The list comes from the config, not from a directory listing, so stale shards of an earlier
    run with more shards are never read. A missing file raises FileNotFoundError.
    """
    paths = [Path(data_dir) / f"shard_{i:03d}" / name for i in range(n_shards)]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"missing shard file(s): {', '.join(missing)}")
    return paths
