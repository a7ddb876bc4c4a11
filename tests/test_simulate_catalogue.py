"""The simulated catalogue and the fast JSON writer."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from prefcal.config import load_config
from prefcal.simulate import catalogue, writers

TINY = {
    "n_users": 6,
    "days": 21,
    "n_genres": 5,
    "n_artists": 40,
    "n_shows": 12,
    "n_audiobooks": 6,
    "episodes_per_show": 3,
    "daily_show_share": 0.3,
    "local_track_share": 0.05,
}


@pytest.fixture(scope="module")
def tables():
    cfg = load_config(overrides={"simulation": TINY})
    return catalogue.build_catalogue(cfg["seed"], cfg["simulation"]), cfg


def test_uris_names_and_links(tables):
    t, cfg = tables
    sim = cfg["simulation"]
    tracks = t["tracks"].to_pandas()
    assert len(tracks) == sim["n_artists"] * sim["tracks_per_artist"]
    uris = tracks.uri.dropna()
    assert uris.str.fullmatch(r"spotify:track:[0-9A-Za-z]{22}").all()
    assert uris.is_unique
    local = tracks.uri.isna()
    assert local.any() and tracks.local_uri[local].str.startswith("spotify:local:").all()
    assert tracks.local_uri[~local].isna().all()
    artists = t["artists"].to_pandas()
    assert artists.name.is_unique
    assert (artists.genre_id.diff().dropna() >= 0).all()  # sorted by genre
    assert (tracks.genre_id.to_numpy() == artists.genre_id.to_numpy()[tracks.artist_id]).all()
    for name, kind in (
        ("episodes", "episode"),
        ("audiobooks", "audiobook"),
        ("chapters", "chapter"),
    ):
        col = t[name].column("uri").to_pandas()
        assert col.str.fullmatch(rf"spotify:{kind}:[0-9A-Za-z]{{22}}").all()
    g = t["genres"].column("popularity").to_numpy()
    assert g.sum() == pytest.approx(1.0)


def test_daily_shows_publish_every_weekday(tables):
    t, cfg = tables
    days = cfg["simulation"]["days"]
    shows = t["shows"].to_pandas()
    eps = t["episodes"].to_pandas()
    start = np.datetime64(cfg["simulation"]["start_date"])
    weekdays = [
        d
        for d in range(days)
        if (start + np.timedelta64(d, "D")).astype("datetime64[D]").item().weekday() < 5
    ]
    for sid in shows.show_id[shows.daily]:
        released = set(eps.release_day[eps.show_id == sid])
        assert set(weekdays) <= released
    # every show has an episode released before the start
    assert (eps.groupby("show_id").release_day.min() < 0).all()
    assert (eps.groupby("show_id").release_day.max() < days).all()


def test_catalogue_is_deterministic(tables):
    t, cfg = tables
    again = catalogue.build_catalogue(cfg["seed"], cfg["simulation"])
    for name in catalogue.TABLES:
        assert again[name].equals(t[name])
    other = catalogue.build_catalogue(cfg["seed"] + 1, cfg["simulation"])
    assert not other["tracks"].equals(t["tracks"])


def test_too_few_artists_names_the_key():
    cfg = load_config(overrides={"simulation": {**TINY, "n_artists": 10, "n_genres": 6}})
    with pytest.raises(ValueError, match="simulation.n_artists"):
        catalogue.build_catalogue(cfg["seed"], cfg["simulation"])


def test_segment_keys_sample_within_segment_by_weight():
    w = np.array([1.0, 3.0, 2.0, 2.0, 4.0])
    seg = np.array([0, 0, 1, 1, 1])
    keys = catalogue.segment_keys(w, seg, 2)
    np.testing.assert_allclose(keys, [0.25, 1.0, 1.25, 1.5, 2.0])
    rng = np.random.default_rng(1)
    draws = np.searchsorted(keys, 1 + rng.random(20000), side="right")
    assert set(np.unique(draws)) == {2, 3, 4}
    np.testing.assert_allclose(
        np.bincount(draws, minlength=5)[2:] / 20000, [0.25, 0.25, 0.5], atol=0.015
    )


def test_json_records_equals_json_dumps():
    rows = [
        {
            "ts": "2026-01-05T08:00:00Z",
            "name": 'He said "hi" \\ ü 🎧',
            "n": 3,
            "x": None,
            "b": True,
        },
        {"ts": "2026-01-06T08:00:00Z", "name": "plain", "n": -1, "x": "y", "b": False},
    ]
    keys = list(rows[0])
    cols = [
        writers.tokens_for([r[k] for r in rows]) if k != "n" else [r[k] for r in rows] for k in keys
    ]
    cols[keys.index("b")] = writers.bool_tokens([r["b"] for r in rows])
    assert writers.json_records(keys, cols) == json.dumps(rows, indent=2, ensure_ascii=False)
    assert writers.json_records(keys, [[] for _ in keys]) == "[]"
    nested = writers.json_objects(["v"], [["1", "2"]], level=3)
    text = writers.json_array(
        writers.json_objects(["a", "o"], [['"p"', '"q"'], nested], level=2), 1
    )
    obj = {"k": [{"a": "p", "o": {"v": 1}}, {"a": "q", "o": {"v": 2}}]}
    assert '{\n  "k": ' + text + "\n}" == json.dumps(obj, indent=2)
    assert re.fullmatch(r'"[^"]*"', writers.tokens_for(["a"])[0])
