"""t_eval from the client's play time: offline plays synced days later do not move it.

Known answers for :func:`prefcal.preferences.stage.evaluation_time` (a frame),
:func:`prefcal.preferences.shards.evaluation_time_of_shards` / ``evaluation_summary`` (Parquet
files) and the JSON of ``prefcal preferences evaluation-time`` (rule ``evaluation_time``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prefcal.cli import main
from prefcal.preferences import shards as pshards
from prefcal.preferences import stage
from prefcal.preferences.shards import (
    evaluation_summary,
    evaluation_time_of_shards,
    read_evaluation_time,
)

UTC = "UTC"
MIN = 60_000


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=UTC)


def play(end: str, ms: int, offline: bool | None = False, offline_ts: str | None = None) -> dict:
    """One row: ``ts_end`` = the logged time (the sync time for an offline play)."""
    return {
        "participant_id": "P0000000001",
        "ts_end": ts(end),
        "ms_played": ms,
        "offline": offline,
        "offline_ts": ts(offline_ts) if offline_ts else pd.NaT,
    }


def frame(*rows: dict) -> pd.DataFrame:
    f = pd.DataFrame(list(rows))
    f["offline_ts"] = pd.to_datetime(f["offline_ts"], utc=True)
    return f


#: the last online play ends 2026-05-05 20:00; an offline play of 21:00-21:04 that evening is
#: synced six days later (the old definition, the last ts_end, gave 2026-05-12)
BASE = (
    play("2026-05-01 08:03", 3 * MIN, False, "2026-05-01 07:59:59.500"),
    play("2026-05-05 20:00", 3 * MIN, False, "2026-05-05 19:56:59.600"),
    play("2026-05-11 09:00", 4 * MIN, True, "2026-05-05 21:00"),
)


def test_an_offline_play_synced_six_days_later_does_not_move_t_eval():
    s = frame(*BASE)
    assert stage.evaluation_time(s) == ts("2026-05-06")
    # the old definition (the day after the last logged ts_end)
    assert s["ts_end"].max().floor("D") + pd.Timedelta(days=1) == ts("2026-05-12")


def test_an_online_play_does_move_t_eval():
    s = frame(*BASE, play("2026-05-07 10:00", 2 * MIN, False, "2026-05-07 09:58"))
    assert stage.evaluation_time(s) == ts("2026-05-08")


def test_offline_rows_without_offline_ts_fall_back_to_ts_end():
    s = frame(*BASE, play("2026-05-09 12:00", 2 * MIN, True, None))
    assert stage.evaluation_time(s) == ts("2026-05-10")
    # offline unknown (null) with an offline_ts: not an offline play, e = ts_end
    s = frame(*BASE, play("2026-05-08 12:00", 2 * MIN, None, "2026-05-01 00:00"))
    assert stage.evaluation_time(s) == ts("2026-05-09")


def test_the_end_of_playback_counts_not_its_start():
    """An offline play started at 23:58 and played 3 minutes ends the next day."""
    s = frame(*BASE, play("2026-05-13 07:00", 3 * MIN, True, "2026-05-05 23:58"))
    assert stage.evaluation_time(s) == ts("2026-05-07")


def test_a_client_clock_in_the_future_cannot_move_t_eval():
    """An offline play whose client clock says 2031 (or an offline_timestamp in the wrong unit)
    ends no later than its logged time: e = min(offline_ts + ms_played, ts_end)."""
    s = frame(*BASE, play("2026-05-05 22:00", 2 * MIN, True, "2031-01-01 10:00"))
    assert stage.evaluation_time(s) == ts("2026-05-06")
    table = pa.Table.from_pandas(s[list(stage.EVALUATION_TIME_COLUMNS)], preserve_index=False)
    ends = stage.play_end_ms(table).to_pylist()
    assert ends[-1] == ts("2026-05-05 22:00").value // 1_000_000  # capped at its ts_end
    assert ends[2] == (ts("2026-05-05 21:00") + pd.Timedelta(minutes=4)).value // 1_000_000


def test_a_frame_without_offline_columns_uses_ts_end():
    s = frame(*BASE)
    assert stage.evaluation_time(s[["ts_end"]]) == ts("2026-05-12")
    naive = pd.DataFrame({"ts_end": pd.to_datetime(["2026-01-10 23:59:59"])})  # taken as UTC
    assert stage.evaluation_time(naive) == ts("2026-01-11")
    with pytest.raises(ValueError, match="empty"):
        stage.evaluation_time(s.iloc[:0])
    with pytest.raises(ValueError, match="ms_played"):
        stage.evaluation_time(s.drop(columns="ms_played"))


def write_shard(path: Path, rows: pd.DataFrame, row_group_size: int = 2) -> Path:
    schema = pa.schema(
        [
            ("participant_id", pa.string()),
            ("ts_end", pa.timestamp("ms", tz=UTC)),
            ("ms_played", pa.int64()),
            ("offline", pa.bool_()),
            ("offline_ts", pa.timestamp("ms", tz=UTC)),
        ]
    )
    table = pa.Table.from_pandas(rows, schema=schema, preserve_index=False)
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


@pytest.fixture
def two_shards(tmp_path, monkeypatch) -> list[Path]:
    monkeypatch.setattr(pshards, "EVAL_BATCH_ROWS", 2)  # several batches per file
    late = (
        play("2026-05-06 01:00", 4 * MIN, True, "2026-05-05 22:00"),
        play("2026-05-10 09:00", 5 * MIN, True, "2026-05-04 10:00"),
    )
    early = (play("2026-04-01 10:00", MIN, False, "2026-04-01 09:59"),) * 3
    return [
        write_shard(tmp_path / "a.parquet", frame(*BASE, *early)),
        write_shard(tmp_path / "b.parquet", frame(*early, *late)),
        write_shard(tmp_path / "c.parquet", frame(*BASE).iloc[:0]),  # a shard without streams
    ]


def test_shard_function_equals_frame_function_with_known_answer(two_shards):
    both = pd.concat([pd.read_parquet(p) for p in two_shards], ignore_index=True)
    assert evaluation_time_of_shards(two_shards) == stage.evaluation_time(both) == ts("2026-05-06")
    ev = evaluation_summary(two_shards)
    assert ev.t_eval == ts("2026-05-06")
    assert ev.last_play_end == ts("2026-05-05 22:04")
    assert ev.last_ts_end == ts("2026-05-11 09:00")
    assert ev.n_streams == len(both) == 11
    # logged at or after 2026-05-06 00:00 though played before: the 05-11, 05-06 and 05-10 syncs
    assert ev.n_logged_after == 3 == int((both["ts_end"] >= ev.t_eval).sum())
    with pytest.raises(ValueError, match="empty"):
        evaluation_summary(two_shards[2:])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        evaluation_time_of_shards([two_shards[0].with_name("missing.parquet")])


def test_the_rule_writes_the_json_the_shard_jobs_read(two_shards, tmp_path, capsys):
    out = tmp_path / "preferences" / "t_eval.json"
    argv = ["preferences", "evaluation-time", "--streams", *map(str, two_shards)]
    assert main([*argv, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "t_eval 2026-05-06 00:00:00+00:00" in printed and "3 of 11 streams" in printed
    d = json.loads(out.read_text())
    assert d["t_eval"] == "2026-05-06T00:00:00+00:00"
    assert d["last_play_end"] == "2026-05-05T22:04:00+00:00"
    assert d["last_ts_end"] == "2026-05-11T09:00:00+00:00"
    assert d["n_streams"] == 11 and d["n_logged_after_t_eval"] == 3
    assert d["streams"] == [str(p) for p in two_shards]
    assert out.read_text().endswith("}\n")
    back = read_evaluation_time(out)
    assert back == evaluation_summary(two_shards)
    with pytest.raises(FileNotFoundError, match="evaluation-time"):
        read_evaluation_time(tmp_path / "nothing.json")
    (tmp_path / "bad.json").write_text('{"t_eval": "2026-05-06T00:00:00+00:00"}')
    with pytest.raises(ValueError, match="not a t_eval file"):
        read_evaluation_time(tmp_path / "bad.json")


def test_the_left_out_count_follows_preferences_time_column(tmp_path):
    """With time_column ts_start the windows select on the (sync-shifted) start: the count of
    streams left out is taken on that column, and a file without it is a named error."""
    rows = frame(*BASE, play("2026-05-06 00:02", 4 * MIN, True, "2026-05-05 20:00"))
    rows["ts_start"] = rows["ts_end"] - pd.to_timedelta(rows["ms_played"], unit="ms")
    path = tmp_path / "s.parquet"
    rows.to_parquet(path, index=False)
    by_end = evaluation_summary([path])
    by_start = evaluation_summary([path], "ts_start")
    assert by_end.t_eval == by_start.t_eval == ts("2026-05-06")
    assert by_end.n_logged_after == 2  # the 05-11 sync and the 05-06 00:02 sync
    assert by_start.n_logged_after == 1  # the 05-06 00:02 sync's ts_start is 05-05 23:58
    bare = write_shard(tmp_path / "bare.parquet", frame(*BASE))
    with pytest.raises(ValueError, match="time_column"):
        evaluation_summary([bare], "ts_start")
