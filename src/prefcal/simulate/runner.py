"""Simulate the catalogue and the users of one shard, writing exports and truth.

User u belongs to shard ``u mod n_shards``; its draws come from generators seeded with
``SeedSequence([seed, stream, u])`` only, so a user's files are identical for any number of shards.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from prefcal.simulate import catalogue as catalogue_mod
from prefcal.simulate import model
from prefcal.simulate.catalogue import Catalogue
from prefcal.simulate.exports import user_folder, write_user_exports
from prefcal.simulate.listening import simulate_listening
from prefcal.simulate.truth import (
    PLAYLIST_SCHEMA,
    USER_EXTRA_SCHEMA,
    playlist_rows,
    write_truth,
)
from prefcal.simulate.users import draw_user

_USER_DIR = re.compile(r"^sim_\d{6}(\.zip)?$")


def shard_users(n_users: int, shard: int, n_shards: int) -> np.ndarray:
    """Users of ``shard``: ``u`` in 0..n_users-1 with ``u % n_shards == shard``."""
    if n_shards < 1:
        raise ValueError(f"--n-shards must be >= 1, got {n_shards}")
    if not 0 <= shard < n_shards:
        raise ValueError(f"--shard must be in 0..{n_shards - 1}, got {shard}")
    return np.arange(shard, n_users, n_shards, dtype=np.int64)


#: simulation keys that the catalogue depends on (recorded beside it and checked by ``users``)
CATALOGUE_KEYS = (
    "days",
    "start_date",
    "n_genres",
    "n_artists",
    "albums_per_artist",
    "tracks_per_artist",
    "local_track_share",
    "n_shows",
    "daily_show_share",
    "episodes_per_show",
    "n_audiobooks",
    "chapters_per_audiobook",
)
CATALOGUE_CONFIG = "catalogue_config.json"


def _catalogue_fingerprint(seed: int, sim: Mapping[str, Any]) -> dict[str, Any]:
    return {"seed": int(seed), **{k: sim[k] for k in CATALOGUE_KEYS}}


def simulate_catalogue(seed: int, sim: Mapping[str, Any], out_dir: str | Path) -> Catalogue:
    """Build the catalogue, write it (and the config it came from) to ``out_dir``; return it."""
    tables = catalogue_mod.build_catalogue(seed, sim)
    catalogue_mod.write_catalogue(tables, out_dir)
    fingerprint = json.dumps(_catalogue_fingerprint(seed, sim), indent=2, sort_keys=True)
    (Path(out_dir) / CATALOGUE_CONFIG).write_text(fingerprint + "\n")
    return Catalogue(tables)


def read_catalogue(cat_dir: str | Path, seed: int, sim: Mapping[str, Any]) -> Catalogue:
    """Load a catalogue directory and check that it was made with this seed and config."""
    path = Path(cat_dir) / CATALOGUE_CONFIG
    if path.exists():
        made = json.loads(path.read_text())
        want = json.loads(json.dumps(_catalogue_fingerprint(seed, sim)))
        diff = sorted(k for k in want if made.get(k) != want[k])
        if diff:
            raise ValueError(
                f"catalogue {cat_dir} was made with a different config (keys: {', '.join(diff)}); "
                "rerun `prefcal simulate catalogue` with this config"
            )
    return Catalogue.read(cat_dir)


def _prepare_out(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and any(out_dir.iterdir()):
        if not overwrite:
            raise ValueError(f"output folder {out_dir} is not empty; remove it or pass --overwrite")
        for child in out_dir.iterdir():
            if _USER_DIR.match(child.name):
                if child.is_dir():
                    shutil.rmtree(child)
                else:
                    child.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)


def _empty_params(n_genres: int) -> model.UserParams:
    f = np.zeros(0)
    return model.UserParams(
        user_index=np.zeros(0, dtype=np.int64),
        specialist=np.zeros(0, dtype=bool),
        taste_start=np.zeros((0, n_genres)),
        taste_end=np.zeros((0, n_genres)),
        type_base_start=np.zeros((0, 3)),
        type_base_end=np.zeros((0, 3)),
        context_strength=f,
        context_sensitivity=f,
        commute_hour=f,
        night_hour=f,
        device_mix=np.zeros((0, 4)),
        weekday_activity=np.zeros((0, 5)),
        weekend_activity=np.zeros((0, 5)),
        sessions_per_day=f,
        active_day_prob=f,
        habitual=np.zeros(0, dtype=bool),
        habit_show=np.zeros(0, dtype=np.int64),
        habit_strength=f,
        plays_per_session=np.zeros((0, 3)),
    )


def simulate_shard(
    seed: int,
    sim: Mapping[str, Any],
    cat: Catalogue,
    shard: int,
    n_shards: int,
    out_dir: str | Path,
    truth_dir: str | Path,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Simulate every user of ``shard``; write exports to ``out_dir`` and truth to ``truth_dir``.

    Returns the shard summary (also written to ``truth_dir/summary.json``).
    """
    out = Path(out_dir)
    truth = Path(truth_dir)
    _prepare_out(out, overwrite)
    users = shard_users(int(sim["n_users"]), shard, n_shards)
    show_uri = cat.strings("shows", "uri")
    params_list = []
    extra: dict[str, list[Any]] = {name: [] for name in USER_EXTRA_SCHEMA.names}
    pl_truth: dict[str, list[Any]] = {}
    step = max(1, users.size // 10)
    for i, u in enumerate(users.tolist()):
        draw = draw_user(u, seed, sim, cat)
        plays = simulate_listening(draw, seed, sim, cat)
        folder = user_folder(u)
        counts = write_user_exports(out / folder, draw, plays, cat, seed, sim)
        params_list.append(draw.params)
        streams = plays.intended
        ctype = plays.content_type
        hs = int(draw.params.habit_show[0])
        row = {
            "folder": folder,
            "shard": shard,
            "format": "extended" if draw.new_format else "endsong",
            "account_data": draw.account_data,
            "mobile_os": draw.mobile_os,
            "habit_show_uri": show_uri[hs] if hs >= 0 else None,
            "dummy_username": draw.username,
            "dummy_email": draw.email,
            "dummy_ips": list(draw.ips),
            "dummy_user_agents": counts.dummy_user_agents,
            "n_sessions": int(np.unique(plays.session).size),
            "n_habit_sessions": int(np.unique(plays.session[plays.habit]).size),
            "n_rows": plays.n,
            "n_streams": int(streams.sum()),
            "n_streams_music": int((streams & (ctype == model.MUSIC)).sum()),
            "n_streams_podcast": int((streams & (ctype == model.PODCAST)).sum()),
            "n_streams_audiobook": int((streams & (ctype == model.AUDIOBOOK)).sum()),
            "n_short": int((plays.ms_played < 30_000).sum()),
            "rows_extended_audio": counts.rows_extended_audio,
            "rows_extended_video": counts.rows_extended_video,
            "rows_account_music": counts.rows_account_music,
            "rows_account_podcast": counts.rows_account_podcast,
            "rows_account_audiobook": counts.rows_account_audiobook,
            "n_playlists": len(draw.pl_names),
            "playlist_items": counts.playlist_items,
            "library_tracks": counts.library_tracks,
            "n_files": len(counts.files),
            "bytes": counts.bytes,
        }
        for k, v in row.items():
            extra[k].append(v)
        for k, v in playlist_rows(u, folder, draw, cat).items():
            pl_truth.setdefault(k, []).extend(v)
        if progress and ((i + 1) % step == 0 or i + 1 == users.size):
            print(
                f"simulate users: shard {shard}: {i + 1}/{users.size} users done", file=sys.stderr
            )
    params = model.UserParams.concat(params_list) if params_list else _empty_params(cat.n_genres)
    if not pl_truth:
        pl_truth = {name: [] for name in PLAYLIST_SCHEMA.names}
    n_rows = int(sum(extra["n_rows"]))
    summary = {
        "shard": shard,
        "n_shards": n_shards,
        "users": int(users.size),
        "rows": n_rows,
        "streams": int(sum(extra["n_streams"])),
        "short_share": (sum(extra["n_short"]) / n_rows) if n_rows else 0.0,
        "rows_extended_audio": int(sum(extra["rows_extended_audio"])),
        "rows_extended_video": int(sum(extra["rows_extended_video"])),
        "rows_account": int(
            sum(extra["rows_account_music"])
            + sum(extra["rows_account_podcast"])
            + sum(extra["rows_account_audiobook"])
        ),
        "playlists": int(sum(extra["n_playlists"])),
        "files": int(sum(extra["n_files"])),
        "bytes": int(sum(extra["bytes"])),
    }
    write_truth(truth, params, extra, pl_truth, summary)
    return summary


def _shard_job(args: tuple[int, dict[str, Any], str, int, int, str, str, bool]) -> dict[str, Any]:
    seed, sim, cat_dir, shard, n_shards, out, truth, overwrite = args
    return simulate_shard(
        seed, sim, Catalogue.read(cat_dir), shard, n_shards, out, truth, overwrite
    )


def simulate_all(
    config: Mapping[str, Any], out: Path, n_shards: int, overwrite: bool = False, jobs: int = 1
) -> dict[str, Any]:
    """Catalogue and all shards under ``out`` (``truth/catalogue``, ``raw/shard_XXX``,
    ``truth/users/shard_XXX``); ``jobs`` > 1 simulates shards in parallel processes.

    Returns totals over shards.
    """
    seed, sim = int(config["seed"]), dict(config["simulation"])
    cat_dir = out / "truth" / "catalogue"
    cat = simulate_catalogue(seed, sim, cat_dir)
    tasks = [
        (
            seed,
            sim,
            str(cat_dir),
            s,
            n_shards,
            str(out / "raw" / f"shard_{s:03d}"),
            str(out / "truth" / "users" / f"shard_{s:03d}"),
            overwrite,
        )
        for s in range(n_shards)
    ]
    if jobs > 1 and n_shards > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=min(jobs, n_shards)) as pool:
            summaries = list(pool.map(_shard_job, tasks))
    else:
        summaries = [
            simulate_shard(seed, sim, cat, s, n_shards, o, t, ow)
            for (_, _, _, s, _, o, t, ow) in tasks
        ]
    keys = (
        "users",
        "rows",
        "streams",
        "rows_extended_audio",
        "rows_extended_video",
        "rows_account",
        "playlists",
        "files",
        "bytes",
    )
    total = {k: int(sum(s[k] for s in summaries)) for k in keys}
    n_short = sum(s["short_share"] * s["rows"] for s in summaries)
    total["short_share"] = n_short / total["rows"] if total["rows"] else 0.0
    return total
