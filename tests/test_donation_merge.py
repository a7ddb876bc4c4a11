"""Adding a person's exports one by one keeps the same plays as ingesting them all at once.

The oracle is the ingest itself: one donation folder holding every export (one sub-folder each)
goes through :func:`prefcal.ingest.ingest_donations`, whose deduplication across exports is
tested against a row-at-a-time reference in ``test_ingest_dedupe.py``. Whatever the formats, the
overlaps and the order of the adds, ``prefcal donation add`` must end with the same streams and
the same totals (rows read, kept, skipped, removed as duplicates).
"""

from __future__ import annotations

import json
import shutil

import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_ingest_helpers import ENDSONG, dump, load, to_account, to_new_format

from prefcal.donation import add_export
from prefcal.donation.shard import shard_of
from prefcal.ingest import ingest_donations
from prefcal.ingest.report import check_counts

ROWS = load(ENDSONG)[:240]
WRITERS = {
    "endsong": ("endsong_0.json", lambda rows: rows),
    "extended": ("Streaming_History_Audio_2021.json", to_new_format),
    "account": ("StreamingHistory_music_0.json", to_account),
}

export_st = st.tuples(
    st.sampled_from(sorted(WRITERS)),
    st.integers(0, len(ROWS) - 1),
    st.integers(1, len(ROWS)),
    st.booleans(),  # also repeat the first 5 rows inside the export
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(exports=st.lists(export_st, min_size=1, max_size=3))
def test_adds_one_by_one_equal_one_ingest(tmp_path_factory, exports) -> None:
    tmp = tmp_path_factory.mktemp("merge")
    paths = []
    for i, (fmt, start, length, repeat) in enumerate(exports):
        rows = ROWS[start : start + length]
        rows = rows + rows[:5] if repeat else rows
        name, convert = WRITERS[fmt]
        paths.append(dump(convert([dict(r) for r in rows]), tmp / f"e{i}" / name).parent)
    root = tmp / "donations"
    pid = None
    for p in paths:
        pid = add_export(p, root, label="same person").participant_id
    both = tmp / "all"
    seen = set()
    for i, p in enumerate(paths):  # an export added twice is a no-op: the oracle holds it once
        content = next(p.iterdir()).read_bytes()
        if content not in seen:
            seen.add(content)
            shutil.copytree(p, both / f"e{i}")
    ref = ingest_donations([both], id_seed=1)
    got = pq.read_table(root / "participants" / pid / "streams.parquet")
    assert got.drop_columns(["participant_id"]).equals(ref.streams.drop_columns(["participant_id"]))
    rep = json.loads((root / "participants" / pid / "ingest_report.json").read_text())
    check_counts(rep)
    assert rep["totals"]["streams"] == ref.report["totals"]["streams"]


def test_shard_of_is_stable_and_spreads() -> None:
    ids = [f"P{i * 7919:010x}" for i in range(1000)]
    counts = [sum(shard_of(p, 4) == s for p in ids) for s in range(4)]
    assert sum(counts) == 1000 and min(counts) >= 200
    assert shard_of("P00000000ff", 16) == 0xFF % 16 == 15
