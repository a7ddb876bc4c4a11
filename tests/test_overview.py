"""Stage 01 data overview (prefcal.overview): known answers on tiny hand-made streams tables."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from prefcal import overview
from prefcal.overview import COHORTS
from prefcal.tables import STREAMS_SCHEMA

A, B, C = "P000000000a", "P000000000b", "P000000000c"

# (participant, ts_start UTC, ms_played, content_type, device, source_format)
TINY_ROWS = [
    (A, "2026-01-05 07:10:00", 60_000, "podcast", "mobile", "extended_audio"),
    (A, "2026-01-05 07:30:00", 10_000, "music", "mobile", "extended_audio"),  # short
    (A, "2026-01-06 19:00:00", 45_000, "music", "desktop", "endsong"),
    (A, "2026-01-06 19:05:00", 30_000, "podcast", "desktop", "endsong"),  # exactly 30 s: a play
    (B, "2026-01-07 08:00:00", 200_000, "music", "speaker", "account_music"),
    (B, "2026-01-07 08:05:00", 29_999, "music", "speaker", "account_music"),  # short
    (B, "2026-01-08 23:59:59", 31_000, "audiobook", "mobile", "extended_audio"),
    (C, "2026-01-04 22:00:00", 120_000, "podcast", "mobile", "extended_audio"),
    (C, "2026-01-10 06:00:00", 50_000, "podcast", "tv", "extended_audio"),
]


def streams_frame(rows) -> pd.DataFrame:
    """A streams table with every canonical column (the ones not given are null)."""
    given = ["participant_id", "ts_start", "ms_played", "content_type", "device", "source_format"]
    frame = pd.DataFrame(rows, columns=given)
    frame["ts_start"] = pd.to_datetime(frame["ts_start"], utc=True).astype("datetime64[ms, UTC]")
    frame["ts_end"] = frame["ts_start"] + pd.to_timedelta(frame["ms_played"], unit="ms")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    columns = {
        f.name: table[f.name].cast(f.type)
        if f.name in table.column_names
        else pa.nulls(len(frame), f.type)
        for f in STREAMS_SCHEMA
    }
    return pa.table(columns, schema=STREAMS_SCHEMA).to_pandas()


def synthetic_streams(n_users: int, n_rows: int, seed: int) -> pd.DataFrame:
    """Seeded synthetic streams: user-specific podcast levels, more podcasts 06-10 h."""
    rng = np.random.default_rng(seed)
    users = np.array([f"P{i:010x}" for i in range(n_users)])
    level = rng.uniform(0.0, 0.6, n_users)
    who = rng.integers(0, n_users, n_rows)
    start = pd.Timestamp("2026-01-05", tz="UTC")
    ts = start + pd.to_timedelta(rng.integers(0, 28 * 86_400, n_rows), unit="s")
    hour = ts.hour.to_numpy()
    p = level[who] * np.where((hour >= 6) & (hour < 10), 1.5, 1.0)
    content = np.where(rng.uniform(size=n_rows) < p, "podcast", "music")
    rows = list(
        zip(
            users[who],
            ts.strftime("%Y-%m-%d %H:%M:%S"),
            rng.integers(0, 240_000, n_rows),
            content,
            rng.choice(["mobile", "desktop", "speaker"], n_rows),
            rng.choice(["endsong", "extended_audio"], n_rows),
            strict=True,
        )
    )
    return streams_frame(rows)


@pytest.fixture()
def tiny() -> pd.DataFrame:
    return streams_frame(TINY_ROWS)


def report_json(
    read: int, kept: int, skipped: int, dups: int, participants: int, reasons: dict
) -> dict:
    """A minimal ingest report in the layout of prefcal.ingest.report."""
    return {
        "report_version": 1,
        "totals": {
            "participants": participants,
            "streams": {
                "files": 1,
                "rows_read": read,
                "rows_kept": kept,
                "rows_skipped": skipped,
                "duplicates_removed": dups,
            },
            "files": {"read": 3, "skipped_for_privacy": 1},
        },
        "participants": {
            A: {
                "files": {
                    "endsong_0.json": {
                        "kind": "streams",
                        "status": "read",
                        "rows_read": read,
                        "rows_kept": kept,
                        "rows_skipped": {"total": skipped, "by_reason": reasons},
                    },
                    "Playlist1.json": {
                        "kind": "playlists",
                        "status": "read",
                        "rows_skipped": {"total": 5, "by_reason": {"missing:track": 5}},
                    },
                }
            }
        },
    }


# ---------------------------------------------------------------------------- summaries


def test_summary_counts_by_hand(tiny):
    s = overview.summarise_streams([tiny])
    assert s.n_participants == 3
    assert s.n_streams == 9
    assert s.n_plays == 7  # 10 000 ms and 29 999 ms are not plays; 30 000 ms is
    assert s.date_start.isoformat() == "2026-01-04"
    assert s.date_end.isoformat() == "2026-01-10"
    assert dict(s.content_type_plays) == {"podcast": 4, "music": 2, "audiobook": 1}
    assert dict(s.device_plays) == {"mobile": 3, "desktop": 2, "speaker": 1, "tv": 1}
    assert dict(s.source_format_streams) == {
        "extended_audio": 5,
        "endsong": 2,
        "account_music": 2,
    }
    got = {
        (r.participant_id, r.hour): (r.n_plays, r.n_podcast)
        for r in s.user_hour.itertuples(index=False)
    }
    assert got == {
        (A, 7): (1, 1),
        (A, 19): (2, 1),
        (B, 8): (1, 0),
        (B, 23): (1, 0),
        (C, 6): (1, 1),
        (C, 22): (1, 1),
    }


def test_shards_add_up_to_the_whole(tiny, tmp_path):
    whole = overview.summarise_streams([tiny])
    path = tmp_path / "shard_001" / "streams.parquet"
    path.parent.mkdir()
    pq.write_table(pa.Table.from_pandas(tiny.iloc[4:], schema=STREAMS_SCHEMA), path)
    # a DataFrame shard plus a Parquet shard read in batches of 2 rows
    parts = overview.summarise_streams([tiny.iloc[:4], path.parent], batch_size=2)
    assert parts.n_streams == whole.n_streams and parts.n_plays == whole.n_plays
    assert parts.participants == whole.participants
    assert (parts.ts_min, parts.ts_max) == (whole.ts_min, whole.ts_max)
    assert parts.content_type_plays == whole.content_type_plays
    assert parts.device_plays == whole.device_plays
    pd.testing.assert_frame_equal(parts.user_hour, whole.user_hour)


def test_offline_plays_use_offline_ts(tiny):
    frame = tiny.copy()
    frame["offline"] = pd.array([None] * len(frame), dtype="boolean")
    # B's 08:00 play was offline and synced later; its offline_ts says 05:00 on the 7th
    frame.loc[4, "offline"] = True
    frame.loc[4, "offline_ts"] = pd.Timestamp("2026-01-07 05:00", tz="UTC")
    # an online play's offline_ts is not used
    frame.loc[0, "offline"] = False
    frame.loc[0, "offline_ts"] = pd.Timestamp("2026-01-01 03:00", tz="UTC")
    s = overview.summarise_streams([frame])
    hours = set(s.user_hour.loc[s.user_hour["participant_id"] == B, "hour"])
    assert hours == {5, 23}
    assert s.date_start.isoformat() == "2026-01-04"
    # without the optional columns, ts_start decides
    plain = overview.summarise_streams([frame.drop(columns=["offline", "offline_ts"])])
    assert set(plain.user_hour.loc[plain.user_hour["participant_id"] == B, "hour"]) == {8, 23}


def test_untyped_plays_are_left_out_of_user_shares(tiny):
    """Legacy account plays have no content type: they count as plays in the overview but not
    in the podcast shares by user and hour, and a user with only such plays gets no cohort."""
    D = "P00000000dd"
    legacy = [
        (D, "2026-01-06 09:00:00", 90_000, "unknown", "unknown", "legacy_account"),
        (D, "2026-01-06 10:00:00", 90_000, "unknown", "unknown", "legacy_account"),
        (A, "2026-01-05 07:40:00", 90_000, "unknown", "unknown", "legacy_account"),
    ]
    frame = streams_frame(TINY_ROWS + legacy)
    s = overview.summarise_streams([frame])
    assert s.n_plays == 7 + 3 and s.content_type_plays["unknown"] == 3
    assert D not in set(s.user_hour["participant_id"])
    shares = overview.user_podcast_shares(s.user_hour)
    # A: 2 podcasts of 3 typed plays (the untyped 07:40 play is not in the denominator)
    assert shares.loc[A, "n_plays"] == 3 and shares.loc[A, "podcast_share"] == 2 / 3
    assert list(shares.index) == sorted([A, B, C])
    pd.testing.assert_frame_equal(
        s.user_hour, overview.summarise_streams([streams_frame(TINY_ROWS)]).user_hour
    )


def test_threshold_and_time_zone(tiny):
    s = overview.summarise_streams([tiny], min_ms_played=0)
    assert s.n_plays == 9
    berlin = overview.summarise_streams([tiny], tz="Europe/Berlin")
    # 2026-01-08 23:59:59 UTC is 00:59:59 next day in Berlin (UTC+1 in January)
    assert berlin.date_end.isoformat() == "2026-01-10"
    assert ((berlin.user_hour["participant_id"] == B) & (berlin.user_hour["hour"] == 0)).any()


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("content_type", "song", "row 2, field content_type: 'song'"),
        ("device", "phone", "row 2, field device: 'phone'"),
        ("ms_played", -5, "row 2, field ms_played: negative"),
        ("participant_id", None, "row 2, field participant_id: null"),
    ],
)
def test_bad_rows_are_named(tiny, column, value, message):
    bad = tiny.copy()
    bad[column] = bad[column].astype(object)
    bad.loc[2, column] = value
    with pytest.raises(ValueError, match=message):
        overview.summarise_streams([bad])


def test_bad_row_in_a_later_parquet_batch_gets_its_file_row(tiny, tmp_path):
    bad = tiny.copy()
    bad.loc[7, "content_type"] = "song"
    path = tmp_path / "streams.parquet"
    pq.write_table(pa.Table.from_pandas(bad, schema=STREAMS_SCHEMA), path)
    with pytest.raises(ValueError, match=rf"{path}: row 7, field content_type"):
        overview.summarise_streams([path], batch_size=3)


def test_missing_column_and_missing_shards(tiny, tmp_path):
    with pytest.raises(ValueError, match="lacks column"):
        overview.summarise_streams([tiny.drop(columns="device")])
    with pytest.raises(ValueError, match="at least one"):
        overview.summarise_streams([])
    with pytest.raises(FileNotFoundError, match="shard_001/streams.parquet"):
        (tmp_path / "shard_000").mkdir()
        (tmp_path / "shard_000" / "streams.parquet").touch()
        overview.shard_paths(tmp_path, 2)


# ---------------------------------------------------------------------------- ingest reports


def test_ingest_reports_are_summed(tmp_path):
    r1, r2 = tmp_path / "a.json", tmp_path / "b.json"
    r1.write_text(json.dumps(report_json(10, 7, 2, 1, 2, {"missing:ts": 2})))
    r2.write_text(json.dumps(report_json(5, 4, 1, 0, 1, {"missing:ts": 1})))
    totals = overview.read_ingest_reports([r1, r2])
    assert (totals.rows_read, totals.rows_kept, totals.rows_skipped) == (15, 11, 3)
    assert totals.duplicates_removed == 1
    assert totals.participants == 3
    assert totals.stream_files == 2
    assert totals.skipped_by_reason == {"missing:ts": 3}  # playlist skips not counted
    assert totals.files_by_status == {
        "read": 6,
        "ignored": 0,
        "skipped_for_privacy": 2,
        "unknown_not_read": 0,
        "error": 0,
    }


def test_ingest_report_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(report_json(10, 7, 2, 0, 1, {})))
    with pytest.raises(ValueError, match=r"bad.json: totals.streams.rows_read \(10\)"):
        overview.read_ingest_reports([bad])
    report = report_json(10, 7, 3, 0, 1, {})
    del report["totals"]["streams"]["rows_kept"]
    bad.write_text(json.dumps(report))
    with pytest.raises(ValueError, match="bad.json: totals.streams: field rows_kept"):
        overview.read_ingest_reports([bad])


def test_consistency_check(tiny):
    s = overview.summarise_streams([tiny])
    ok = overview.IngestTotals(3, 1, 12, 9, 2, 1)
    overview.check_consistency(s, ok)
    with pytest.raises(ValueError, match="8 stream rows were kept"):
        overview.check_consistency(s, overview.IngestTotals(3, 1, 12, 8, 3, 1))


# ---------------------------------------------------------------------------- table


def test_overview_table_values(tiny):
    s = overview.summarise_streams([tiny])
    ingest = overview.IngestTotals(3, 1, 12, 9, 2, 1, {"missing:ts": 2}, {"read": 4, "error": 0})
    table = overview.overview_table(s, ingest)
    assert table["quantity"].is_unique
    values = dict(zip(table["quantity"], table["value"], strict=True))
    shares = dict(zip(table["quantity"], table["share"], strict=True))
    assert values["Participants"] == "3" and values["Streams"] == "9"
    assert values["Plays >= 30 s"] == "7" and shares["Plays >= 30 s"] == pytest.approx(7 / 9)
    assert values["First day"] == "2026-01-04" and values["Last day"] == "2026-01-10"
    assert values["Days spanned"] == "7"
    assert shares["Content type: podcast"] == pytest.approx(4 / 7)
    assert shares["Content type: music"] == pytest.approx(2 / 7)
    assert values["Content type: video"] == "0"
    assert shares["Device: mobile"] == pytest.approx(3 / 7)
    assert shares["Source format: extended_audio"] == pytest.approx(5 / 9)
    assert values["Ingest: rows skipped"] == "2"
    assert shares["Ingest: skipped, missing:ts"] == pytest.approx(2 / 12)
    assert values["Ingest: duplicates removed"] == "1"
    assert values["Files: read"] == "4"
    for section in ("Content type", "Device"):
        part = table[table["section"].str.startswith(section)]
        assert part["share"].sum() == pytest.approx(1.0)
    latex = overview.overview_latex_frame(table)
    row = latex.iloc[2]
    assert (row["Quantity"], row["Value"], row["Share"]) == (r"Plays $\geq$ 30 s", "7", r"77.8\%")
    assert latex.iloc[8]["Quantity"] == "audiobook"
    # zero categories (video, unknown type, unused formats ...) are left out of the paper's table
    zero_cats = table["quantity"].str.startswith(overview.table.OMITTED_WHEN_ZERO) & (
        table["value"] == "0"
    )
    assert zero_cats.sum() > 0 and len(latex) == len(table) - zero_cats.sum()
    assert "video" not in set(latex["Quantity"])
    assert "rows skipped" in set(latex["Quantity"])  # a total stays


# ---------------------------------------------------------------------------- cohorts


def test_cohorts_by_hand(tiny):
    s = overview.summarise_streams([tiny])
    shares = overview.user_podcast_shares(s.user_hour)
    assert shares["podcast_share"].to_dict() == {A: pytest.approx(2 / 3), B: 0.0, C: 1.0}
    cohorts = overview.assign_cohorts(shares)
    assert cohorts.astype(str).to_dict() == {A: "mixed", B: "music-first", C: "podcast-leaning"}
    summary = overview.cohort_summary(shares, cohorts).set_index("cohort")
    assert summary.loc["mixed", "n_plays"] == 3
    assert summary.loc["mixed", "podcast_share"] == pytest.approx(2 / 3)


def test_cohort_ties_break_by_id_and_sizes_differ_by_at_most_one():
    ids = [f"u{i}" for i in range(1, 8)]
    shares = pd.DataFrame(
        {"n_plays": [4, 4, 4, 4, 4, 4, 4], "n_podcast": [0, 0, 0, 0, 2, 4, 1]},
        index=pd.Index(ids, name="participant_id"),
    )
    shares["podcast_share"] = shares["n_podcast"] / shares["n_plays"]
    got = overview.assign_cohorts(shares).astype(str).to_dict()
    # ranks: u1 u2 u3 u4 (0, by id), u7 (.25), u5 (.5), u6 (1); codes = rank * 3 // 7
    assert got == {
        "u1": "music-first",
        "u2": "music-first",
        "u3": "music-first",
        "u4": "mixed",
        "u7": "mixed",
        "u5": "podcast-leaning",
        "u6": "podcast-leaning",
    }
    with pytest.raises(ValueError, match="at least 3 users"):
        overview.assign_cohorts(shares.iloc[:2])
    with pytest.raises(ValueError, match=">= 5 plays"):
        overview.assign_cohorts(shares, min_plays=5)
    # 7 users: cohorts of at least 2 users, not of at least 3 (k-anonymity on donated data)
    assert overview.assign_cohorts(shares, min_users=2).value_counts().min() == 2
    with pytest.raises(ValueError, match="need at least 9 users .* at least 3 users, got 7"):
        overview.assign_cohorts(shares, min_users=3)


# ---------------------------------------------------------------------------- Figure 1 analogue


def test_bootstrap_matches_naive_reference_and_chunking():
    rng = np.random.default_rng(0)
    num = rng.integers(0, 5, (13, 4)).astype(float)
    den = num + rng.integers(0, 5, (13, 4))
    fast = overview.bootstrap_ratio(num, den, 40, np.random.default_rng(7))
    chunked = overview.bootstrap_ratio(num, den, 40, np.random.default_rng(7), max_cells=30)
    draws = np.random.default_rng(7).integers(0, 13, size=(40, 13))
    naive = np.array([num[d].sum(axis=0) / den[d].sum(axis=0) for d in draws])
    np.testing.assert_allclose(fast, naive, rtol=1e-12)
    np.testing.assert_array_equal(fast, chunked)


def test_share_by_hour_by_hand(tiny):
    s = overview.summarise_streams([tiny])
    cohorts = overview.assign_cohorts(overview.user_podcast_shares(s.user_hour))
    curves = overview.podcast_share_by_hour(s.user_hour, cohorts, n_boot=20, seed=1)
    assert len(curves) == 3 * 24
    mixed = curves[curves["cohort"] == "mixed"].set_index("hour")
    assert mixed.loc[7, "share"] == 1.0 and mixed.loc[19, "share"] == 0.5
    assert np.isnan(mixed.loc[12, "share"])
    # one user per cohort: every resample is that user, the band collapses onto the estimate
    assert mixed.loc[19, "low"] == mixed.loc[19, "high"] == 0.5
    assert (curves["n_users"] == 1).all()


def test_share_by_hour_is_seeded_and_bands_cover_the_estimate():
    frame = synthetic_streams(n_users=45, n_rows=6000, seed=3)
    s = overview.summarise_streams([frame])
    cohorts = overview.assign_cohorts(overview.user_podcast_shares(s.user_hour))
    assert cohorts.value_counts().to_dict() == {name: 15 for name in COHORTS}
    one = overview.podcast_share_by_hour(s.user_hour, cohorts, n_boot=200, seed=11)
    two = overview.podcast_share_by_hour(s.user_hour, cohorts, n_boot=200, seed=11)
    other = overview.podcast_share_by_hour(s.user_hour, cohorts, n_boot=200, seed=12)
    pd.testing.assert_frame_equal(one, two)
    assert not np.array_equal(one["low"], other["low"])
    pd.testing.assert_series_equal(one["share"], other["share"])
    assert ((one["low"] <= one["share"]) & (one["share"] <= one["high"])).all()
    # pooled share of the cohort = its podcast plays / plays
    by_cohort = one.groupby("cohort", observed=True)["n_plays"].sum()
    assert by_cohort.sum() == s.n_plays
    # terciles are ordered by podcast share
    pooled = overview.cohort_summary(overview.user_podcast_shares(s.user_hour), cohorts)
    assert pooled["podcast_share"].is_monotonic_increasing


def test_period_contrast_by_hand(tiny):
    s = overview.summarise_streams([tiny])
    cohorts = overview.assign_cohorts(overview.user_podcast_shares(s.user_hour))
    table = overview.period_contrast(s.user_hour, cohorts, n_boot=10, seed=0)
    mixed = table[table["cohort"] == "mixed"].set_index("quantity")
    assert mixed.loc["morning", "estimate"] == 1.0  # A at 07 h: 1 podcast of 1 play
    assert mixed.loc["evening", "estimate"] == 0.5  # A at 19 h: 1 of 2
    assert mixed.loc["morning - evening", "estimate"] == 0.5
    assert mixed.loc["morning - evening", "low"] == 0.5
    # a period that wraps past midnight: 22-02 holds C's 22 h podcast play
    wrap = overview.period_contrast(
        s.user_hour, cohorts, periods={"night": (22, 2), "day": (10, 22)}, n_boot=5, seed=0
    )
    lean = wrap[wrap["cohort"] == "podcast-leaning"].set_index("quantity")
    assert lean.loc["night", "estimate"] == 1.0
    with pytest.raises(ValueError, match="exactly two"):
        overview.period_contrast(s.user_hour, cohorts, periods={"x": (1, 2)})


def test_macros_of_the_stage(tiny):
    s = overview.summarise_streams([tiny])
    shares = overview.user_podcast_shares(s.user_hour)
    cohorts = overview.assign_cohorts(shares)
    contrast = overview.period_contrast(
        s.user_hour, cohorts, periods={"morning": (6, 10), "evening": (18, 24)}, n_boot=10
    )
    ingest = overview.IngestTotals(3, 1, 12, 9, 2, 1, {}, {"read": 4, "skipped_for_privacy": 1})
    macros = overview.overview_macros(
        s,
        seed=20261122,
        data_source="donations",
        ingest=ingest,
        cohort_table=overview.cohort_summary(shares, cohorts),
        contrast=contrast,
        periods={"morning": (6, 10), "evening": (18, 24)},
        n_boot=1000,
        ci=0.95,
    )
    from prefcal.paper.macros import render_macros

    text = render_macros(macros)
    for line in (
        r"\newcommand{\NParticipants}{3}",
        r"\newcommand{\NStreams}{9}",
        r"\newcommand{\ShareLongPlays}{77.8\%}",
        r"\newcommand{\PodcastShare}{57.1\%}",
        r"\newcommand{\DateStart}{2026-01-04}",
        r"\newcommand{\DateEnd}{2026-01-10}",
        r"\newcommand{\StudySeed}{20261122}",
        r"\newcommand{\DataSource}{donated}",
        r"\newcommand{\NBootstrap}{1,000}",
        r"\newcommand{\CILevel}{95\%}",
        r"\newcommand{\EveningHours}{18:00--24:00}",
        r"\newcommand{\NFilesSkippedPrivacy}{1}",
    ):
        assert line in text.splitlines()
    # podcast-leaning = C: 06 h podcast (morning 100 %), 22 h podcast (evening 100 %)
    assert macros["PodcastLeaningMorningShare"] == r"100.0\%"
    assert macros["PodcastLeaningMorningMinusEveningPoints"] == "0.0"


def test_output_paths_match_the_rule():
    paths = overview.output_paths("results")
    rule = (Path(__file__).resolve().parents[1] / "workflow/rules/data.smk").read_text()
    for path in paths.values():
        relative = path.as_posix().replace("results/", "{RESULTS}/", 1)
        assert relative in rule, relative


def test_a_participant_without_kept_streams_is_counted_but_not_in_the_tables(tiny, tmp_path):
    """A donor whose history has no rows (a user who did not listen in the period) is one of the
    report's participants but has no rows in the streams tables: the check accepts that, and
    still catches a participant lost between ingest and tables."""
    report = report_json(12, 9, 2, 1, 4, {})
    report["participants"] = {
        pid: {"files": {"endsong_0.json": {"kind": "streams", "status": "read", "rows_kept": k}}}
        for pid, k in (("P1", 4), ("P2", 3), ("P3", 2), ("P4", 0))
    }
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    totals = overview.read_ingest_reports([path])
    assert (totals.participants, totals.participants_with_streams) == (4, 3)
    s = overview.summarise_streams([tiny])  # 3 participants
    overview.check_consistency(s, totals)
    report["participants"]["P4"]["files"]["endsong_0.json"]["rows_kept"] = 1
    path.write_text(json.dumps(report))
    with pytest.raises(ValueError, match="4 participants with kept stream rows"):
        overview.check_consistency(s, overview.read_ingest_reports([path]))
