"""``prefcal rq``: the sharded part of stage 05 (the workflow calls it once per shard).

Sub-command::

    prefcal rq snapshots --config-json JSON --home results/home/shard_003 \\
        --streams results/data/shard_003/streams.parquet --out results/rq/shard_003

``snapshots`` writes the shard's compact summaries of :mod:`prefcal.rq.shards`
(``snapshots.parquet``, ``plays.parquet``, ``type_totals.parquet``) that notebook 05 merges
without reading any shard's streams or impressions. ``--config-json`` holds at least ``ingest``
(``min_ms_played``); ``--config FILE ...`` merges YAML files over config/config.yaml instead.
"""

from __future__ import annotations

import argparse
import sys
import time

from prefcal.config import add_config_args, config_from_args

NEEDED = {"snapshots": ("ingest",)}


def _cmd_snapshots(args: argparse.Namespace) -> int:
    from prefcal.rq.shards import write_shard_summary

    cfg = config_from_args(args.config, args.config_json, NEEDED["snapshots"])
    t0 = time.perf_counter()
    rows = write_shard_summary(
        args.home, args.streams, args.out, int(cfg["ingest"]["min_ms_played"])
    )
    print(
        f"rq snapshots: {rows['snapshots']} snapshots, {rows['plays']} plays,"
        f" {rows['participants']} participants -> {args.out} in {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``prefcal rq`` and its sub-command."""
    p = subparsers.add_parser(
        "rq",
        help="research-question analysis: per-shard snapshot summaries (stage 05)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="rq_command", required=True)
    sn = sub.add_parser("snapshots", help="one shard's snapshot summaries for notebook 05")
    add_config_args(sn)
    sn.add_argument("--home", required=True, help="the shard's Home tables (prefcal home log)")
    sn.add_argument("--streams", required=True, help="the shard's canonical streams.parquet")
    sn.add_argument("--out", required=True, help="output directory (results/rq/shard_NNN)")
    sn.set_defaults(func=_cmd_snapshots)
