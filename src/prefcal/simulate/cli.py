"""``prefcal simulate``: the simulated population as real Spotify export files plus truth.

Sub-commands (the workflow calls the first two; ``all`` is for tests and people without Snakemake)::

    prefcal simulate catalogue --config-json JSON --out results/truth/catalogue
    prefcal simulate users --config-json JSON --catalogue results/truth/catalogue \\
        --shard 003 --n-shards 4 --out results/raw/shard_003 --truth results/truth/users/shard_003
    prefcal simulate all --config config/config.yaml --out DIR

``--config-json`` holds ``{"seed": ..., "simulation": {...}}`` (other sections may be present);
``--config FILE [FILE ...]`` merges YAML files over config/config.yaml instead. ``all`` writes
``DIR/truth/catalogue``, ``DIR/raw/shard_XXX`` and ``DIR/truth/users/shard_XXX`` for the config's
``shards``, the same layout as ``results/``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from prefcal.config import add_config_args, config_from_args


def simulation_config(config_files: list[str] | None, config_json: str | None) -> dict[str, Any]:
    """Config of a simulate command: ``seed`` and ``simulation``, validated by the schema."""
    return config_from_args(config_files, config_json, needed=("seed", "simulation"))


def _cmd_catalogue(args: argparse.Namespace) -> int:
    from prefcal.simulate.runner import simulate_catalogue

    cfg = simulation_config(args.config, args.config_json)
    t0 = time.perf_counter()
    simulate_catalogue(int(cfg["seed"]), cfg["simulation"], args.out)
    print(
        f"simulate catalogue: wrote {args.out} in {time.perf_counter() - t0:.1f} s", file=sys.stderr
    )
    return 0


def _cmd_users(args: argparse.Namespace) -> int:
    from prefcal.simulate.runner import read_catalogue, simulate_shard

    cfg = simulation_config(args.config, args.config_json)
    try:
        shard = int(args.shard)
    except ValueError as exc:
        raise ValueError(f"--shard must be an integer such as 003, got {args.shard!r}") from exc
    t0 = time.perf_counter()
    cat = read_catalogue(args.catalogue, int(cfg["seed"]), cfg["simulation"])
    summary = simulate_shard(
        int(cfg["seed"]),
        cfg["simulation"],
        cat,
        shard,
        int(args.n_shards),
        args.out,
        args.truth,
        overwrite=args.overwrite,
    )
    print(
        f"simulate users: shard {shard}: {summary['users']} users, {summary['rows']} rows, "
        f"{summary['bytes'] / 1e6:.1f} MB in {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
    )
    return 0


def _cmd_all(args: argparse.Namespace) -> int:
    from prefcal.simulate.runner import simulate_all

    cfg = simulation_config(args.config, args.config_json)
    n_shards = int(args.shards if args.shards is not None else cfg.get("shards", 1))
    t0 = time.perf_counter()
    summary = simulate_all(cfg, Path(args.out), n_shards, overwrite=args.overwrite, jobs=args.jobs)
    print(
        f"simulate all: {summary['users']} users in {n_shards} shards, {summary['rows']} rows, "
        f"{summary['files']} files, {summary['bytes'] / 1e6:.1f} MB "
        f"in {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``prefcal simulate`` and its sub-commands."""
    p = subparsers.add_parser(
        "simulate",
        help="simulate users as Spotify export files plus ground truth",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="simulate_command", required=True)

    c = sub.add_parser("catalogue", help="write the simulated catalogue (Parquet)")
    add_config_args(c)
    c.add_argument("--out", required=True, help="catalogue directory")
    c.set_defaults(func=_cmd_catalogue)

    u = sub.add_parser("users", help="simulate the users of one shard")
    add_config_args(u)
    u.add_argument("--catalogue", required=True, help="directory written by `simulate catalogue`")
    u.add_argument("--shard", required=True, help="shard number, e.g. 003")
    u.add_argument("--n-shards", required=True, type=int, help="number of shards")
    u.add_argument("--out", required=True, help="export folders go here (sim_000123/...)")
    u.add_argument("--truth", required=True, help="truth sidecar directory")
    u.add_argument("--overwrite", action="store_true", help="replace existing sim_* folders")
    u.set_defaults(func=_cmd_users)

    a = sub.add_parser("all", help="catalogue and every shard into one directory")
    add_config_args(a)
    a.add_argument("--out", required=True, help="output root (truth/ and raw/ are created)")
    a.add_argument("--shards", type=int, default=None, help="number of shards (default: config)")
    a.add_argument("--jobs", type=int, default=1, help="shards simulated in parallel processes")
    a.add_argument("--overwrite", action="store_true", help="replace existing sim_* folders")
    a.set_defaults(func=_cmd_all)
