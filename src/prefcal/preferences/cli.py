"""``prefcal preferences``: the sharded part of stage 03 (the workflow calls it once per shard).

    prefcal preferences features --config-json JSON \\
        --streams results/data/shard_003/streams.parquet \\
        --all-streams results/data/shard_*/streams.parquet \\
        --item-taste results/clusters/item_taste.parquet --out results/preferences/shard_003

writes the shard's per-user summaries (:mod:`prefcal.preferences.shards`: window features,
descriptors, context counts per window) at ``t_eval``, the UTC midnight after the last stream of
all shards (read from ``--all-streams``' Parquet statistics). ``--config-json`` holds at least
``preferences`` (``analysis`` and ``ingest`` are used when present).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from prefcal.config import add_config_args, config_from_args

NEEDED = ("preferences", "analysis", "ingest")


def _cmd_features(args: argparse.Namespace) -> int:
    from prefcal.clustering.stage import read_shards
    from prefcal.preferences import PreferenceParams, stage
    from prefcal.preferences.shards import (
        evaluation_time_of_shards,
        read_item_taste,
        shard_features,
        write_shard_features,
    )

    cfg = config_from_args(args.config, args.config_json, NEEDED)
    params = PreferenceParams.from_config(cfg)
    t0 = time.perf_counter()
    all_streams = args.all_streams or [args.streams]
    if str(Path(args.streams)) not in {str(Path(p)) for p in all_streams}:
        raise ValueError(f"--streams {args.streams} is not one of --all-streams")
    t_eval = evaluation_time_of_shards(all_streams)
    streams = read_shards([args.streams], columns=list(stage.STREAM_COLUMNS))
    taste = read_item_taste(args.item_taste) if args.item_taste else None
    feats = shard_features(streams, t_eval, params, taste)
    write_shard_features(feats, args.out, params)
    print(
        f"prefcal preferences features: {len(feats.user_windows):,} participants, "
        f"{len(streams):,} streams, t_eval {t_eval} -> {args.out} "
        f"({time.perf_counter() - t0:.1f} s)"
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Register ``prefcal preferences features``."""
    parser = subparsers.add_parser("preferences", help="stage 03: per-shard preference summaries")
    sub = parser.add_subparsers(dest="preferences_command", required=True)
    feat = sub.add_parser("features", help="one shard's per-user summaries at t_eval")
    add_config_args(feat)
    feat.add_argument("--streams", required=True, help="the shard's streams.parquet")
    feat.add_argument("--all-streams", nargs="+", help="every shard's streams.parquet (for t_eval)")
    feat.add_argument("--item-taste", help="item_taste.parquet of stage 02 (taste features)")
    feat.add_argument("--out", required=True, help="folder for the shard's summaries")
    feat.set_defaults(func=_cmd_features)
