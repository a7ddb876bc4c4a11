"""The ground-truth sidecar of a user shard (Parquet; only validation code reads it).

Files in the ``--truth`` directory of ``prefcal simulate users``:

``users.parquet`` (one row per user)
    every column of :class:`prefcal.simulate.model.UserParams` (``taste_start``/``taste_end`` are
    the genre mixes, ``device_mix`` the device weights over mobile, desktop, speaker, tv ...; load
    them with :func:`prefcal.simulate.model.load_user_params`), plus ``folder`` (``sim_000123``),
    ``shard``, ``format`` (``endsong`` = old extended generation, ``extended`` = new),
    ``account_data``, ``mobile_os``, ``habit_show_uri`` (null when not habitual), the planted dummy
    PII (``dummy_username``, ``dummy_email``, ``dummy_ips``, ``dummy_user_agents``) and counts:
    ``n_sessions``, ``n_habit_sessions``, ``n_rows`` (all plays), ``n_streams`` (intended plays,
    all >= 30 s), ``n_streams_music`` / ``_podcast`` / ``_audiobook``, ``n_short`` (< 30 s),
    ``rows_extended_audio``, ``rows_extended_video``, ``rows_account_music`` / ``_podcast`` /
    ``_audiobook``, ``n_playlists``, ``playlist_items``, ``library_tracks``, ``n_files``, ``bytes``.
``context.parquet`` (user x tau in {0, 1} x hour 0-23 x weekend x device)
    ``p_music``, ``p_podcast``, ``p_audiobook`` = :func:`~prefcal.simulate.model.content_type_probs`
    (the preference) and ``mix_*`` = :func:`~prefcal.simulate.model.expected_stream_mix` (expected
    stream mix, habit included). ``device`` holds the device name.
``playlists.parquet`` (one row per playlist, in ``Playlist1.json`` order)
    ``playlist_index``, ``name``, ``theme_genre`` (the genre it was built from), ``dominant_genre``
    and ``dominant_share`` (the most common genre among its tracks and its share), ``n_tracks``,
    ``n_episodes``, ``n_local``.
``summary.json``
    shard totals (users, rows, streams, files, bytes) and the share of plays under 30 s.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from prefcal.simulate import model
from prefcal.simulate.catalogue import Catalogue

PREF_COLS = ("p_music", "p_podcast", "p_audiobook")
MIX_COLS = ("mix_music", "mix_podcast", "mix_audiobook")


def context_table(params: model.UserParams, chunk: int = 64) -> pa.Table:
    """The true type distributions of every user in every (tau, hour, weekend, device) cell.

    Users are processed ``chunk`` at a time to bound memory.
    """
    parts = [
        _context_chunk(params.take(np.arange(i, min(i + chunk, params.n))))
        for i in range(0, params.n, chunk)
    ]
    return pa.concat_tables(parts) if parts else _context_chunk(params)


def _context_chunk(params: model.UserParams) -> pa.Table:
    n = params.n
    taus = np.array([0.0, 1.0])
    grid_tau, grid_hour, grid_we, grid_dev = (
        g.reshape(-1)
        for g in np.meshgrid(
            taus, np.arange(24), np.array([False, True]), np.arange(4), indexing="ij"
        )
    )
    cells = grid_tau.size
    rows = np.repeat(np.arange(n), cells)
    tau = np.tile(grid_tau, n)
    hour = np.tile(grid_hour, n)
    we = np.tile(grid_we, n)
    dev = np.tile(grid_dev, n)
    rep = params.take(rows)
    pref = model.content_type_probs(rep, hour, we, dev, tau)
    mix = model.expected_stream_mix(rep, hour, we, dev, tau)
    cols: dict[str, Any] = {
        "user_index": pa.array(params.user_index[rows]),
        "tau": pa.array(tau),
        "hour": pa.array(hour.astype(np.int8)),
        "weekend": pa.array(we),
        "device": pa.array(np.asarray(model.DEVICES, dtype=object)[dev], pa.string()),
    }
    for j, name in enumerate(PREF_COLS):
        cols[name] = pa.array(pref[:, j])
    for j, name in enumerate(MIX_COLS):
        cols[name] = pa.array(mix[:, j])
    return pa.table(cols)


def playlist_rows(u: int, folder: str, draw: Any, cat: Catalogue) -> dict[str, list[Any]]:
    """Truth rows of one user's playlists (see the module docstring)."""
    n_pl = len(draw.pl_names)
    is_track = draw.pl_item_kind == 0
    tracks = draw.pl_item_id[is_track]
    pl = draw.pl_item_playlist[is_track]
    genre = cat.track_genre[tracks]
    counts = np.zeros((n_pl, cat.n_genres), dtype=np.int64)
    np.add.at(counts, (pl, genre), 1)
    n_tracks = counts.sum(axis=1)
    dominant = counts.argmax(axis=1)
    share = np.where(n_tracks > 0, counts.max(axis=1) / np.maximum(n_tracks, 1), 0.0)
    n_local = np.bincount(pl[cat.track_is_local[tracks]], minlength=n_pl)
    n_eps = np.bincount(draw.pl_item_playlist[~is_track], minlength=n_pl)
    return {
        "user_index": [u] * n_pl,
        "folder": [folder] * n_pl,
        "playlist_index": list(range(n_pl)),
        "name": list(draw.pl_names),
        "theme_genre": draw.pl_theme.tolist(),
        "dominant_genre": dominant.tolist(),
        "dominant_share": share.tolist(),
        "n_tracks": n_tracks.tolist(),
        "n_episodes": n_eps.tolist(),
        "n_local": n_local.tolist(),
    }


#: columns of users.parquet beyond the model parameters
USER_EXTRA_SCHEMA = pa.schema(
    [
        ("folder", pa.string()),
        ("shard", pa.int64()),
        ("format", pa.string()),
        ("account_data", pa.bool_()),
        ("mobile_os", pa.string()),
        ("habit_show_uri", pa.string()),
        ("dummy_username", pa.string()),
        ("dummy_email", pa.string()),
        ("dummy_ips", pa.list_(pa.string())),
        ("dummy_user_agents", pa.list_(pa.string())),
        ("n_sessions", pa.int64()),
        ("n_habit_sessions", pa.int64()),
        ("n_rows", pa.int64()),
        ("n_streams", pa.int64()),
        ("n_streams_music", pa.int64()),
        ("n_streams_podcast", pa.int64()),
        ("n_streams_audiobook", pa.int64()),
        ("n_short", pa.int64()),
        ("rows_extended_audio", pa.int64()),
        ("rows_extended_video", pa.int64()),
        ("rows_account_music", pa.int64()),
        ("rows_account_podcast", pa.int64()),
        ("rows_account_audiobook", pa.int64()),
        ("n_playlists", pa.int64()),
        ("playlist_items", pa.int64()),
        ("library_tracks", pa.int64()),
        ("n_files", pa.int64()),
        ("bytes", pa.int64()),
    ]
)

PLAYLIST_SCHEMA = pa.schema(
    [
        ("user_index", pa.int64()),
        ("folder", pa.string()),
        ("playlist_index", pa.int32()),
        ("name", pa.string()),
        ("theme_genre", pa.int32()),
        ("dominant_genre", pa.int32()),
        ("dominant_share", pa.float64()),
        ("n_tracks", pa.int32()),
        ("n_episodes", pa.int32()),
        ("n_local", pa.int32()),
    ]
)


def write_truth(
    truth_dir: Path,
    params: model.UserParams,
    extra: dict[str, list[Any]],
    playlists: dict[str, list[Any]],
    summary: dict[str, Any],
) -> None:
    """Write users.parquet, context.parquet, playlists.parquet and summary.json."""
    truth_dir.mkdir(parents=True, exist_ok=True)
    users = params.to_table()
    if set(extra) != set(USER_EXTRA_SCHEMA.names):
        raise ValueError(f"truth columns {sorted(extra)} differ from {USER_EXTRA_SCHEMA.names}")
    for f in USER_EXTRA_SCHEMA:
        users = users.append_column(f, pa.array(extra[f.name], f.type))
    pq.write_table(users, truth_dir / "users.parquet")
    pq.write_table(context_table(params), truth_dir / "context.parquet")
    pq.write_table(pa.table(playlists, schema=PLAYLIST_SCHEMA), truth_dir / "playlists.parquet")
    (truth_dir / "summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
