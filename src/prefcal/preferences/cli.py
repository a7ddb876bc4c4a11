"""``prefcal preferences``: the sharded part of stage 03 (the workflow calls ``features`` once per
shard, after ``evaluation-time`` once for the study).

    prefcal preferences evaluation-time --streams results/data/shard_*/streams.parquet \\
        --out results/preferences/t_eval.json

writes the study's ``t_eval`` (:func:`prefcal.preferences.stage.evaluation_time`: the UTC midnight
after the end of the last play of all shards, on the client's clock) with the latest logged
``ts_end`` and the number of streams logged at or after ``t_eval`` (offline plays synced late:
left out of the windows), :class:`prefcal.preferences.shards.EvaluationTime`.

    prefcal preferences features --config-json JSON \\
        --streams results/data/shard_003/streams.parquet \\
        --t-eval results/preferences/t_eval.json \\
        --item-taste results/clusters/item_taste.parquet --out results/preferences/shard_003

writes the shard's per-user summaries (:mod:`prefcal.preferences.shards`: window features,
descriptors, context counts per window) at that ``t_eval``. ``--config-json`` holds at least
``preferences`` (``analysis`` and ``ingest`` are used when present).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from prefcal.config import add_config_args, config_from_args

NEEDED = ("preferences", "analysis", "ingest")


def _cmd_evaluation_time(args: argparse.Namespace) -> int:
    from prefcal.preferences.shards import evaluation_summary

    t0 = time.perf_counter()
    ev = evaluation_summary(args.streams, args.time_column)
    ev.write(args.out)
    print(
        f"prefcal preferences evaluation-time: t_eval {ev.t_eval} (last play ended "
        f"{ev.last_play_end}, last stream logged {ev.last_ts_end}); {ev.n_logged_after:,} of "
        f"{ev.n_streams:,} streams of {len(args.streams)} shard(s) logged at or after t_eval "
        f"(played before it, left out of the windows) -> {args.out} "
        f"({time.perf_counter() - t0:.1f} s)"
    )
    return 0


def _cmd_features(args: argparse.Namespace) -> int:
    from prefcal.clustering.stage import read_shards
    from prefcal.preferences import PreferenceParams, stage
    from prefcal.preferences.shards import (
        read_evaluation_time,
        read_item_taste,
        shard_features,
        write_shard_features,
    )

    cfg = config_from_args(args.config, args.config_json, NEEDED)
    params = PreferenceParams.from_config(cfg)
    t0 = time.perf_counter()
    ev = read_evaluation_time(args.t_eval)
    if ev.streams and Path(args.streams).resolve() not in {Path(p).resolve() for p in ev.streams}:
        raise ValueError(
            f"--streams {args.streams} is not one of the shards {args.t_eval} was computed from"
        )
    t_eval = ev.t_eval
    streams = read_shards([args.streams], columns=list(stage.STREAM_COLUMNS))
    taste = read_item_taste(args.item_taste) if args.item_taste else None
    feats = shard_features(streams, t_eval, params, taste)
    write_shard_features(feats, args.out, params)
    late = 0
    if len(streams):  # t_eval, or each participant's own time
        used = stage.features_time(feats.user_windows, t_eval, params)
        late = int((streams[params.time_column] >= stage.stream_cutoffs(streams, used)).sum())
    when = "each participant's own t" if params.evaluation_time == "per_participant" else "t_eval"
    print(
        f"prefcal preferences features: {len(feats.user_windows):,} participants, "
        f"{len(streams):,} streams ({late:,} logged at or after {when}, left out), "
        f"t_eval {t_eval} -> {args.out} ({time.perf_counter() - t0:.1f} s)"
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Register ``prefcal preferences evaluation-time`` and ``prefcal preferences features``."""
    parser = subparsers.add_parser("preferences", help="stage 03: per-shard preference summaries")
    sub = parser.add_subparsers(dest="preferences_command", required=True)
    ev = sub.add_parser("evaluation-time", help="the study's t_eval from every shard's streams")
    ev.add_argument("--streams", nargs="+", required=True, help="every shard's streams.parquet")
    ev.add_argument("--out", required=True, help="the JSON file to write (t_eval.json)")
    ev.add_argument(
        "--time-column",
        default="ts_end",
        choices=["ts_end", "ts_start"],
        help="preferences.time_column: the windows' timestamp (counts the streams left out)",
    )
    ev.set_defaults(func=_cmd_evaluation_time)
    feat = sub.add_parser("features", help="one shard's per-user summaries at t_eval")
    add_config_args(feat)
    feat.add_argument("--streams", required=True, help="the shard's streams.parquet")
    feat.add_argument(
        "--t-eval", required=True, help="t_eval.json of `prefcal preferences evaluation-time`"
    )
    feat.add_argument("--item-taste", help="item_taste.parquet of stage 02 (taste features)")
    feat.add_argument("--out", required=True, help="folder for the shard's summaries")
    feat.set_defaults(func=_cmd_features)
