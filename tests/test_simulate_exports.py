"""The simulated population end to end: export files, truth, determinism, shard independence."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import pyarrow.parquet as pq
import pytest

from prefcal.cli import main
from prefcal.config import load_config
from prefcal.simulate import exports, model
from prefcal.simulate.catalogue import Catalogue
from prefcal.simulate.listening import NEXT_START, R, simulate_listening
from prefcal.simulate.runner import simulate_all
from prefcal.simulate.users import draw_user

SIM = {
    "n_users": 12,
    "days": 35,
    "n_genres": 6,
    "n_artists": 120,
    "n_shows": 20,
    "n_audiobooks": 10,
    "playlists_per_user": [3, 5],
    "playlist_length": [15, 30],
    "new_format_share": 0.5,
    "account_data_share": 0.6,
    "habitual_share": 0.5,
    "extended_rows_per_file": 150,
    "account_rows_per_file": 120,
    "video_share": 0.2,
}
NEW_NAME = re.compile(r"^Streaming_History_(Audio|Video)_\d{4}(-\d{4})?(_\d+)?\.json$")
OLD_NAME = re.compile(r"^(endsong_\d+|endvideo)\.json$")


def _config(**sim):
    return load_config(overrides={"shards": 3, "simulation": {**SIM, **sim}})


def _hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    cfg = _config()
    out = tmp_path_factory.mktemp("sim")
    simulate_all(cfg, out, 3)
    users = pd.concat(
        [
            pq.read_table(p).to_pandas()
            for p in sorted((out / "truth" / "users").glob("*/users.parquet"))
        ]
    ).set_index("folder")
    return cfg, out, users


def _user_dir(out: Path, folder: str) -> Path:
    return next((out / "raw").glob(f"shard_*/{folder}"))


def _extended_rows(out: Path, folder: str) -> tuple[list[dict], list[Path]]:
    files = [
        p
        for p in _user_dir(out, folder).rglob("*.json")
        if NEW_NAME.match(p.name) or OLD_NAME.match(p.name)
    ]
    rows = [r for p in files for r in json.loads(p.read_text(encoding="utf-8"))]
    return rows, files


def test_file_names_per_generation(run):
    cfg, out, users = run
    assert set(users.format) == {"endsong", "extended"}
    assert sorted(p.name for p in (out / "raw").glob("shard_*/sim_*")) == [
        f"sim_{u:06d}" for u in range(12)
    ]
    for folder, u in users.iterrows():
        names = {p.name for p in _user_dir(out, folder).rglob("*.json")}
        assert {"Playlist1.json", "YourLibrary.json", "Userdata.json", "Identifiers.json"} <= names
        if u.format == "endsong":
            assert any(re.match(r"^endsong_\d+\.json$", n) for n in names)
            assert not any(n.startswith("Streaming_History_") for n in names)
        else:
            assert any(NEW_NAME.match(n) and "Audio" in n for n in names)
            assert not any(n.startswith("endsong") for n in names)
        account = {n for n in names if n.startswith("StreamingHistory_")}
        assert bool(account) == bool(u.account_data)
        if u.account_data:
            assert "StreamingHistory_music_0.json" in account


def test_fields_units_and_dummy_pii(run):
    cfg, out, users = run
    for folder, u in users.iterrows():
        rows, files = _extended_rows(out, folder)
        assert len(rows) == u.rows_extended_audio + u.rows_extended_video
        fields = exports.OLD_FIELDS if u.format == "endsong" else exports.NEW_FIELDS
        assert all(tuple(r) == fields for r in rows)
        df = pd.DataFrame(rows)
        assert df.ts.str.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").all()
        ts = np.array(df.ts.str[:-1].tolist(), dtype="datetime64[s]").astype(np.int64) * 1000
        off = df.offline_timestamp.to_numpy(dtype=np.int64)
        online = (~df.offline.to_numpy(dtype=bool)) & (off > 0)
        start_ms = ts - df.ms_played.to_numpy()
        if u.format == "endsong":
            assert (off[off > 0] > 10**12).all()  # milliseconds
            gap = start_ms[online] - off[online]
            assert df.skipped.isna().mean() > 0.9
            assert set(df.username) == {u.dummy_username}
            assert set(df.user_agent_decrypted) <= set(u.dummy_user_agents) | {"unknown"}
            assert df.platform.str.contains(r"\(|Partner|Windows|OS X").all()
            ip = df.ip_addr_decrypted
        else:
            assert ((off[off > 0] > 10**9) & (off[off > 0] < 10**11)).all()  # seconds
            gap = start_ms[online] - off[online] * 1000
            assert df.skipped.map(type).eq(bool).all()
            assert set(df.platform) <= {
                "ios",
                "android",
                "windows",
                "osx",
                "sonos",
                "amazon_echo",
                "google_home",
                "smart_tv",
            }
            ip = df.ip_addr
        # online plays: offline_timestamp = start of playback (within ~2 s, ts has whole seconds)
        assert (np.abs(gap) < 2500).all()
        assert set(ip) <= set(u.dummy_ips)
        assert all(x.startswith("198.51.100.") for x in u.dummy_ips)
        userdata = json.loads(next(_user_dir(out, folder).rglob("Userdata.json")).read_text())
        assert userdata["username"] == u.dummy_username and userdata["email"] == u.dummy_email


def test_short_plays_skips_and_reason_chains(run):
    cfg, out, users = run
    short = users.n_short.sum() / users.n_rows.sum()
    assert 0.2 <= short <= 0.47
    cat = Catalogue.read(out / "truth" / "catalogue")
    seed, sim = cfg["seed"], cfg["simulation"]
    for u in range(4):
        plays = simulate_listening(draw_user(u, seed, sim, cat), seed, sim, cat)
        same = plays.session[1:] == plays.session[:-1]
        # inside a session the start reason follows the previous end (trackdone -> trackdone, ...)
        np.testing.assert_array_equal(
            plays.reason_start[1:][same], NEXT_START[plays.reason_end[:-1][same]]
        )
        assert (plays.ms_played[~plays.intended] < 30_000).all()
        assert (plays.ms_played[plays.intended] >= 30_000).all()
        music_done = (
            plays.intended & (plays.reason_end == R["trackdone"]) & (plays.content_type == 0)
        )
        np.testing.assert_array_equal(
            plays.ms_played[music_done], cat.track_duration[plays.item[music_done]]
        )
        fwd_skips = ~plays.intended & (plays.reason_end == R["fwdbtn"])
        assert fwd_skips.sum() > 0
        assert (np.diff(plays.start_ms) >= 0).all()  # chronological, no overlaps
        assert (plays.start_ms[1:] >= plays.start_ms[:-1] + plays.ms_played[:-1]).all()


def test_rows_unsorted_and_files_split(run):
    cfg, out, users = run
    per_file = cfg["simulation"]["extended_rows_per_file"]
    n_split = 0
    for folder in users.index:
        _, files = _extended_rows(out, folder)
        n_split += len([f for f in files if "Audio" in f.name or "endsong" in f.name]) > 1
        for f in files:
            rows = json.loads(f.read_text(encoding="utf-8"))
            assert len(rows) <= per_file
            ts = [r["ts"] for r in rows]
            if len(ts) >= 20:
                assert ts != sorted(ts)
        for f in _user_dir(out, folder).rglob("StreamingHistory_*.json"):
            rows = json.loads(f.read_text(encoding="utf-8"))
            assert len(rows) <= cfg["simulation"]["account_rows_per_file"]
            assert [r["endTime"] for r in rows] == sorted(r["endTime"] for r in rows)
    assert n_split > 0


def test_account_data_describes_the_same_plays(run):
    cfg, out, users = run
    checked = 0
    for folder, u in users[users.account_data].iterrows():
        rows, _ = _extended_rows(out, folder)
        ext = sorted((r["ts"][:16].replace("T", " "), r["ms_played"]) for r in rows)
        acc = []
        for kind in ("music", "podcast", "audiobook"):
            for f in _user_dir(out, folder).rglob(f"StreamingHistory_{kind}_*.json"):
                data = json.loads(f.read_text(encoding="utf-8"))
                assert all(tuple(r) == exports.ACCOUNT_FIELDS[kind] for r in data)
                acc += [(r["endTime"], r["msPlayed"]) for r in data]
        assert sorted(acc) == ext
        assert len(acc) == u.rows_account_music + u.rows_account_podcast + u.rows_account_audiobook
        checked += 1
    assert checked > 0


def test_habitual_weekday_mornings_are_dominated_by_the_show(run):
    cfg, out, users = run
    eps = pq.read_table(out / "truth" / "catalogue" / "episodes.parquet").to_pandas()
    shows = pq.read_table(out / "truth" / "catalogue" / "shows.parquet").to_pandas()
    show_of = dict(zip(eps.uri, shows.uri.to_numpy()[eps.show_id], strict=True))
    habitual = users[users.habitual]
    assert len(habitual) >= 2
    for folder, u in habitual.iterrows():
        df = pd.DataFrame(_extended_rows(out, folder)[0])
        off = df.offline_timestamp.to_numpy(dtype=np.int64)
        scale = 1 if u.format == "endsong" else 1000
        start = pd.to_datetime(np.where(off > 0, off * scale, 0), unit="ms", utc=True)
        hour = start.hour + start.minute / 60
        morning = (
            (start.day_of_week < 5)
            & (np.abs(hour - u.commute_hour) <= 1.0)
            & (df.ms_played >= 30_000)
        )
        show = df.spotify_episode_uri.map(show_of)
        share = (show[morning] == u.habit_show_uri).mean()
        assert share > 0.5, (folder, share)


def test_playlists_reflect_taste(run):
    cfg, out, users = run
    truth = pd.concat(
        pq.read_table(p).to_pandas() for p in (out / "truth" / "users").glob("*/playlists.parquet")
    )
    big = truth[truth.n_tracks >= 10]
    assert (big.dominant_genre == big.theme_genre).mean() >= 0.9
    assert big.dominant_share.mean() >= 0.7
    theta = {f: np.asarray(t) for f, t in users.taste_start.items()}
    mass = np.array([theta[f][g] for f, g in zip(truth.folder, truth.theme_genre, strict=True)])
    assert mass.mean() > 2.0 / cfg["simulation"]["n_genres"]
    # the file agrees with the truth
    tracks = pq.read_table(out / "truth" / "catalogue" / "tracks.parquet").to_pandas()
    genre_of = dict(zip(tracks.uri, tracks.genre_id, strict=True))
    for folder in users.index[:4]:
        pls = json.loads(
            next(_user_dir(out, folder).rglob("Playlist1.json")).read_text(encoding="utf-8")
        )
        assert [tuple(p) for p in pls["playlists"]] == [
            ("name", "lastModifiedDate", "items", "description", "numberOfFollowers")
        ] * len(pls["playlists"])
        mine = truth[truth.folder == folder].sort_values("playlist_index")
        for p, (_, t) in zip(pls["playlists"], mine.iterrows(), strict=True):
            genres = [genre_of[i["track"]["trackUri"]] for i in p["items"] if i["track"]]
            if genres:
                assert np.bincount(genres).argmax() == t.dominant_genre
            assert all(
                set(i) == {"track", "episode", "audiobook", "localTrack", "addedDate"}
                for i in p["items"]
            )


def test_context_truth_depends_on_context_strength(run, tmp_path):
    cfg, out, users = run
    ctx = pq.read_table(next((out / "truth" / "users").glob("*/context.parquet"))).to_pandas()
    assert len(ctx) == ctx.user_index.nunique() * 2 * 24 * 2 * 4
    p = ctx[["p_music", "p_podcast", "p_audiobook"]].to_numpy()
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    ctx["logodds"] = np.log(ctx.p_podcast / ctx.p_music)
    spread = ctx.groupby(["user_index", "tau"]).logodds.agg(lambda s: s.max() - s.min())
    assert (spread > 1.0).all()
    flat = _config(n_users=3, context_strength=0.0)
    simulate_all(flat, tmp_path, 1)
    ctx0 = pq.read_table(tmp_path / "truth" / "users" / "shard_000" / "context.parquet").to_pandas()
    spread0 = ctx0.groupby(["user_index", "tau"])[["p_music", "p_podcast", "p_audiobook"]].agg(
        lambda s: s.max() - s.min()
    )
    assert (spread0.to_numpy() < 1e-12).all()


def test_shards_do_not_change_user_files_and_cli_matches(run, tmp_path):
    cfg, out, users = run
    js = json.dumps({"seed": cfg["seed"], "simulation": cfg["simulation"]}, sort_keys=True)
    cat = tmp_path / "catalogue"
    assert main(["simulate", "catalogue", "--config-json", js, "--out", str(cat)]) == 0
    raw = tmp_path / "raw"
    args = ["simulate", "users", "--config-json", js, "--catalogue", str(cat), "--shard", "000"]
    assert main([*args, "--n-shards", "1", "--out", str(raw), "--truth", str(tmp_path / "t")]) == 0
    one = _hashes(raw)
    three = {}
    for shard_dir in sorted((out / "raw").glob("shard_*")):
        three.update(_hashes(shard_dir))
    assert one == three
    assert _hashes(cat) == _hashes(out / "truth" / "catalogue")
    t1 = (
        pq.read_table(tmp_path / "t" / "users.parquet")
        .to_pandas()
        .drop(columns="shard")
        .set_index("folder")
    )
    pd.testing.assert_frame_equal(t1.sort_index(), users.drop(columns="shard").sort_index())


def test_same_config_gives_identical_bytes(run, tmp_path):
    cfg, out, users = run
    simulate_all(cfg, tmp_path, 3)
    assert _hashes(tmp_path) == _hashes(out)


def test_bad_inputs_name_the_problem(run, tmp_path, capsys):
    cfg, out, users = run
    bad = {"seed": cfg["seed"], "simulation": {**cfg["simulation"], "context_strength": -1}}
    assert (
        main(["simulate", "catalogue", "--config-json", json.dumps(bad), "--out", str(tmp_path)])
        == 2
    )
    assert "simulation.context_strength" in capsys.readouterr().err
    other = {"seed": cfg["seed"] + 1, "simulation": cfg["simulation"]}
    args = ["simulate", "users", "--config-json", json.dumps(other), "--catalogue"]
    args += [str(out / "truth" / "catalogue"), "--shard", "0", "--n-shards", "1"]
    assert main([*args, "--out", str(tmp_path / "r"), "--truth", str(tmp_path / "t")]) == 2
    assert "different config" in capsys.readouterr().err
    good = {"seed": cfg["seed"], "simulation": cfg["simulation"]}
    args = ["simulate", "users", "--config-json", json.dumps(good), "--catalogue"]
    args += [str(out / "truth" / "catalogue"), "--shard", "5", "--n-shards", "3"]
    assert main([*args, "--out", str(tmp_path / "r2"), "--truth", str(tmp_path / "t2")]) == 2
    assert "--shard" in capsys.readouterr().err


def test_truth_user_params_load_and_match_the_draws(run):
    cfg, out, users = run
    params = model.load_user_params(sorted((out / "truth" / "users").glob("shard_*")))
    assert params.user_index.tolist() == list(range(12))
    cat = Catalogue.read(out / "truth" / "catalogue")
    d = draw_user(5, cfg["seed"], cfg["simulation"], cat)
    np.testing.assert_allclose(params.taste_end[5], d.params.taste_end[0])
    np.testing.assert_allclose(params.device_mix.sum(axis=1), 1.0)
    assert (
        users.n_streams
        == users.n_streams_music + users.n_streams_podcast + users.n_streams_audiobook
    ).all()


def test_zip_container_holds_the_same_files_and_ingests_to_the_same_tables(run, tmp_path):
    """``export_container: zip`` writes each user's export as ``sim_NNNNNN.zip`` whose members
    are byte for byte the folder's files; the ingest gives identical tables (a zip's ``.zip``
    suffix is not part of the study id)."""
    import zipfile

    from prefcal.ingest.pipeline import ingest

    cfg, out, _ = run
    zcfg = _config(export_container="zip")
    simulate_all(zcfg, tmp_path / "z", 3)
    zipped = sorted((tmp_path / "z" / "raw").glob("shard_*/*"))
    assert zipped and all(p.suffix == ".zip" and p.is_file() for p in zipped)
    assert len(zipped) == SIM["n_users"]
    for zpath in zipped:
        folder = out / "raw" / zpath.parent.name / zpath.stem
        with zipfile.ZipFile(zpath) as zf:
            members = {i.filename: zf.read(i) for i in zf.infolist()}
        files = {
            str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()
        }
        assert members == files
    # the archive bytes are deterministic too
    simulate_all(zcfg, tmp_path / "z2", 3)
    assert _hashes(tmp_path / "z" / "raw") == _hashes(tmp_path / "z2" / "raw")
    shard = "shard_001"
    folders = sorted((out / "raw" / shard).iterdir())  # one donation per participant
    zips = sorted((tmp_path / "z" / "raw" / shard).iterdir())
    assert [p.name for p in zips] == [f"{p.name}.zip" for p in folders]
    a = ingest(folders, tmp_path / "ia", id_seed=cfg["seed"], threads=1)
    b = ingest(zips, tmp_path / "ib", id_seed=cfg["seed"], threads=1)
    assert pa.compute.count_distinct(a.streams.column("participant_id")).as_py() == len(folders)
    assert a.streams.num_rows > 100
    assert a.streams.equals(b.streams)
    assert a.playlists.num_rows > 10
    assert a.playlists.equals(b.playlists)
    assert a.library.equals(b.library)
