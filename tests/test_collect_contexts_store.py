"""prefcal.collect: context classification, interval parsing and the append-only store (offline)."""

from __future__ import annotations

import json
import os
import stat

import pandas as pd
import pytest

from prefcal.collect.contexts import (
    CONTEXT_CLASSES,
    classify_context,
    classify_frame,
    classify_uri,
    is_spotify_made,
    playlist_id_from_uri,
    scrub_context_uri,
)
from prefcal.collect.errors import CollectError
from prefcal.collect.poll import ms_to_iso, parse_interval, parse_played_at
from prefcal.collect.store import PLAYS_COLUMNS, CollectStore, JsonlTable, read_plays

EDITORIAL = "37i9dQZF1DXcBWIGoYBM5M"
DISCOVER_WEEKLY = "37i9dQZEVXcJZyENOWUFo7"
OWN = "3cEYpjA9oz9GiPac4AsH4n"
SPOTIFY_NO_PREFIX = "4hOKQuZbraPDIfaGbM3lKI"


@pytest.mark.parametrize(
    ("context", "owners", "expected"),
    [
        (None, None, "none"),
        ({}, None, "none"),
        ({"type": "playlist", "uri": f"spotify:playlist:{EDITORIAL}"}, None, "spotify_playlist"),
        (
            {"type": "playlist", "uri": f"spotify:playlist:{DISCOVER_WEEKLY}"},
            None,
            "spotify_playlist",
        ),
        ({"type": "playlist", "uri": f"spotify:playlist:{OWN}"}, None, "user_playlist"),
        ({"type": "playlist", "uri": f"spotify:playlist:{OWN}"}, {OWN: "self"}, "user_playlist"),
        # owner id known to be spotify: Spotify-made even without the id prefix
        (
            {"type": "playlist", "uri": f"spotify:playlist:{SPOTIFY_NO_PREFIX}"},
            {SPOTIFY_NO_PREFIX: "spotify"},
            "spotify_playlist",
        ),
        (
            {"type": "playlist", "uri": f"spotify:playlist:{SPOTIFY_NO_PREFIX}"},
            None,
            "user_playlist",
        ),
        (
            {"type": "playlist", "uri": f"spotify:user:someone:playlist:{OWN}"},
            None,
            "user_playlist",
        ),
        ({"type": "collection", "uri": "spotify:user:someone:collection"}, None, "collection"),
        ({"type": "album", "uri": "spotify:album:abc"}, None, "album"),
        ({"type": "artist", "uri": "spotify:artist:abc"}, None, "artist"),
        ({"type": "show", "uri": "spotify:show:abc"}, None, "show"),
        ({"type": None, "uri": "spotify:album:abc"}, None, "album"),
        ({"type": "station", "uri": "spotify:station:track:abc"}, None, "other"),
    ],
)
def test_classify_context(context, owners, expected):
    assert classify_context(context, owners) == expected
    assert expected in CONTEXT_CLASSES


def test_spotify_made_rule_and_uri_helpers():
    assert is_spotify_made("37i9dQZF1E37fa3zdWtvQY")  # Daily Mix
    assert is_spotify_made("37i9dQZEVXbkd6Sr1pdgOH")  # Release Radar style
    assert not is_spotify_made(OWN)
    assert is_spotify_made(OWN, "spotify")
    assert not is_spotify_made(OWN, "someone")
    assert playlist_id_from_uri(f"spotify:user:bob:playlist:{OWN}") == OWN
    assert playlist_id_from_uri("spotify:album:x") is None
    assert playlist_id_from_uri(None) is None
    # user names are scrubbed from context URIs
    assert scrub_context_uri(f"spotify:user:bob:playlist:{OWN}") == f"spotify:playlist:{OWN}"
    assert scrub_context_uri("spotify:user:bob:collection") == "spotify:user:*:collection"
    assert scrub_context_uri("spotify:album:x") == "spotify:album:x"
    assert scrub_context_uri(None) is None


def test_classify_frame_matches_row_by_row():
    types = pd.Series(["playlist", None, "album", "playlist", "playlist", None])
    uris = pd.Series(
        [
            f"spotify:playlist:{EDITORIAL}",
            None,
            "spotify:album:a",
            f"spotify:playlist:{OWN}",
            f"spotify:playlist:{SPOTIFY_NO_PREFIX}",
            None,
        ]
    )
    owners = {SPOTIFY_NO_PREFIX: "spotify"}
    got = classify_frame(types, uris, owners)
    expected = [classify_uri(t, u, owners) for t, u in zip(types, uris, strict=True)]
    assert (
        got.tolist()
        == expected
        == [
            "spotify_playlist",
            "none",
            "album",
            "user_playlist",
            "spotify_playlist",
            "none",
        ]
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30m", 1800.0), ("1h", 3600.0), ("90s", 90.0), ("1h30m", 5400.0), ("600", 600.0)],
)
def test_parse_interval(text, seconds):
    assert parse_interval(text) == seconds


@pytest.mark.parametrize("bad", ["", "30x", "m30", "0s", "-5m", "1h 30m", "half an hour"])
def test_parse_interval_rejects(bad):
    with pytest.raises(ValueError, match="--every"):
        parse_interval(bad)


def test_played_at_round_trip():
    ms = parse_played_at("2026-03-02T07:41:05.123Z")
    assert ms == 1772437265123
    assert ms_to_iso(ms) == "2026-03-02T07:41:05.123Z"
    assert parse_played_at("2026-03-02T07:41:05Z") == 1772437265000
    with pytest.raises(CollectError, match="played_at"):
        parse_played_at("yesterday")


def test_jsonl_table_deduplicates_and_survives_reopen(tmp_path):
    path = tmp_path / "t.jsonl"
    table = JsonlTable(path, ("a", "b"))
    rows = [{"a": 1, "b": "x", "v": 1}, {"a": 1, "b": "y", "v": 2}, {"a": 1, "b": "x", "v": 3}]
    assert table.append(rows) == 2  # duplicate key inside the batch dropped
    assert table.append(rows) == 0
    assert len(table) == 2
    reopened = JsonlTable(path, ("a", "b"))
    assert len(reopened) == 2
    assert reopened.append([{"a": 2, "b": "x"}]) == 1
    assert [r["v"] for r in reopened.read()[:2]] == [1, 2]  # first copy kept
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_jsonl_table_repairs_a_torn_last_line_and_names_bad_lines(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"k": 1}\n{"k": 2}\n{"k": 3, "par')  # killed mid-write
    table = JsonlTable(path, ("k",))
    assert len(table) == 2
    assert path.read_text() == '{"k": 1}\n{"k": 2}\n'
    assert table.append([{"k": 3}]) == 1
    assert [json.loads(x)["k"] for x in path.read_text().splitlines()] == [1, 2, 3]

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"k": 1}\nnot json\n')
    with pytest.raises(CollectError, match=r"bad\.jsonl, line 2"):
        JsonlTable(bad, ("k",))
    missing_key = tmp_path / "mk.jsonl"
    missing_key.write_text('{"other": 1}\n')
    with pytest.raises(CollectError, match="key field 'k'"):
        JsonlTable(missing_key, ("k",))


def test_store_state_lock_and_empty_plays(tmp_path):
    store = CollectStore(tmp_path / "store")
    assert stat.S_IMODE(os.stat(store.root).st_mode) == 0o700
    assert store.load_state() == {}
    store.save_state({"recently_played_after_ms": 5})
    assert store.load_state() == {"recently_played_after_ms": 5}
    assert stat.S_IMODE(os.stat(store.state_path).st_mode) == 0o600
    with store.locked():
        with pytest.raises(CollectError, match="another collector"):
            with CollectStore(tmp_path / "store").locked():
                pass
    with store.locked():  # released
        pass
    empty = read_plays(store)
    assert list(empty.columns) == list(PLAYS_COLUMNS)
    assert len(empty) == 0
