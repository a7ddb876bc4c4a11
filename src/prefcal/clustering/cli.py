"""``prefcal clustering``: the sharded part of stage 02 (the workflow calls it once per shard).

    prefcal clustering summarise --playlists results/data/shard_003/playlists.parquet \\
        --out results/clusters/shard_003

reduces the shard's canonical playlists table to the compact summaries of
:mod:`prefcal.clustering.shards` (playlists, artist counts, item and artist incidences), which
the stage-02 notebook combines without ever holding the study's playlist rows.
"""

from __future__ import annotations

import argparse
import time


def _cmd_summarise(args: argparse.Namespace) -> int:
    from prefcal.clustering.shards import READ_COLUMNS, shard_playlists, write_shard_playlists
    from prefcal.clustering.stage import read_shards

    t0 = time.perf_counter()
    playlists = read_shards([args.playlists], columns=list(READ_COLUMNS))
    summary = shard_playlists(playlists)
    write_shard_playlists(summary, args.out)
    print(
        f"prefcal clustering summarise: {len(summary.playlists):,} playlists, "
        f"{len(playlists):,} rows, {len(summary.artist_counts):,} (playlist, artist) counts, "
        f"{len(summary.items):,} items -> {args.out} ({time.perf_counter() - t0:.1f} s)"
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Register ``prefcal clustering summarise``."""
    parser = subparsers.add_parser("clustering", help="stage 02: per-shard playlist summaries")
    sub = parser.add_subparsers(dest="clustering_command", required=True)
    summ = sub.add_parser("summarise", help="one shard's compact playlist summaries")
    summ.add_argument("--playlists", required=True, help="the shard's playlists.parquet")
    summ.add_argument("--out", required=True, help="folder for the shard's summaries")
    summ.set_defaults(func=_cmd_summarise)
