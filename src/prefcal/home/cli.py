"""``prefcal home``: the heavy, sharded parts of stage 04 (the workflow calls them).

Sub-commands::

    prefcal home log --config-json JSON --catalogue results/truth/catalogue \\
        --truth-users results/truth/users/shard_003 \\
        --streams results/data/shard_003/streams.parquet \\
        --out results/home/shard_003
    prefcal home sensitivity --config-json JSON --catalogue results/truth/catalogue \\
        --truth-users results/truth/users/shard_* --streams results/data/shard_*/streams.parquet \\
        --out results/evaluation/sensitivity.parquet

``log`` simulates one shard's Home requests, logs them with the epsilon-greedy logging policy and
writes the tables of :mod:`prefcal.home.logging` (plus the A/B requests). ``sensitivity`` runs the
"when does CB win?" grid of :mod:`prefcal.evaluation.sensitivity` on a user subsample and writes
one Parquet (and a CSV beside it). ``--config-json`` holds at least ``seed``, ``simulation``,
``home`` (and ``evaluation`` for ``sensitivity``; ``ingest`` is used when
present); ``--config FILE ...`` merges YAML files over config/config.yaml instead.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prefcal.config import add_config_args, config_from_args

NEEDED = {
    "log": ("seed", "simulation", "home"),
    "sensitivity": ("seed", "simulation", "home", "evaluation"),
}


def stage_config(
    config_files: list[str] | None, config_json: str | None, needed: tuple[str, ...]
) -> dict[str, Any]:
    """Config of a ``home`` command; a partial ``--config-json`` is validated per section."""
    return config_from_args(config_files, config_json, needed)


def _min_ms(cfg: Mapping[str, Any]) -> int:
    return int(cfg.get("ingest", {}).get("min_ms_played", 30_000))


def _cmd_log(args: argparse.Namespace) -> int:
    import pandas as pd

    from prefcal.home.candidates import HomeCatalogue
    from prefcal.home.environment import HomeEnvironment
    from prefcal.home.features import StreamHistory
    from prefcal.home.logging import (
        item_uris,
        participant_ids,
        simulate_home_data,
        write_home_data,
    )
    from prefcal.home.settings import home_settings
    from prefcal.simulate.model import load_user_params

    cfg = stage_config(args.config, args.config_json, NEEDED["log"])
    t0 = time.perf_counter()
    hs = home_settings(cfg)
    if not Path(args.streams).exists():
        raise FileNotFoundError(f"{args.streams} does not exist (run `prefcal ingest` first)")
    params = load_user_params(args.truth_users)
    env = HomeEnvironment(params, HomeCatalogue.read(args.catalogue), hs)
    streams = pd.read_parquet(args.streams)
    history = StreamHistory.from_streams(
        streams, participant_ids(params.user_index, hs.seed), _min_ms(cfg)
    )
    log, profiles = simulate_home_data(
        env, streams, period="log", min_ms_played=_min_ms(cfg), history=history
    )
    ab, _ = simulate_home_data(
        env, streams, period="ab", min_ms_played=_min_ms(cfg), history=history
    )
    write_home_data(args.out, env, log, ab, profiles, history, uris=item_uris(args.catalogue))
    assert log.outcomes is not None
    print(
        f"home log: {params.n} users, {log.n} logged requests "
        f"({int(log.outcomes.streamed.sum())} streams), {ab.n} A/B requests -> {args.out} "
        f"in {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
    )
    return 0


def _cmd_sensitivity(args: argparse.Namespace) -> int:
    import pandas as pd

    from prefcal.evaluation.policyset import eval_settings
    from prefcal.evaluation.sensitivity import run_sensitivity, sensitivity_participants
    from prefcal.home.candidates import HomeCatalogue
    from prefcal.home.environment import HomeEnvironment
    from prefcal.home.settings import home_settings
    from prefcal.paper.tables import write_csv
    from prefcal.simulate.model import load_user_params

    cfg = stage_config(args.config, args.config_json, NEEDED["sensitivity"])
    t0 = time.perf_counter()
    hs, es = home_settings(cfg), eval_settings(cfg)
    for path in args.streams:
        if not Path(path).exists():
            raise FileNotFoundError(f"{path} does not exist (run `prefcal ingest` first)")
    params = load_user_params(args.truth_users)
    env = HomeEnvironment(params, HomeCatalogue.read(args.catalogue), hs)
    keep = sensitivity_participants(env, es)  # only the subsample's streams are read
    streams = pd.concat(
        [pd.read_parquet(p, filters=[("participant_id", "in", keep)]) for p in args.streams],
        ignore_index=True,
    )
    table = run_sensitivity(env, streams, es, _min_ms(cfg))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(out, index=False)
    write_csv(table, out.with_suffix(".csv"))
    print(
        f"home sensitivity: {len(table)} rows -> {out} in {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``prefcal home`` and its sub-commands."""
    p = subparsers.add_parser(
        "home",
        help="simulated Home surface: logged requests, sensitivity runs (stage 04)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="home_command", required=True)

    lg = sub.add_parser("log", help="simulate and log one shard's Home requests")
    add_config_args(lg)
    lg.add_argument("--catalogue", required=True, help="truth catalogue directory")
    lg.add_argument("--truth-users", required=True, nargs="+", help="truth user shard directory")
    lg.add_argument("--streams", required=True, help="the shard's canonical streams.parquet")
    lg.add_argument("--out", required=True, help="output directory of the shard's Home tables")
    lg.set_defaults(func=_cmd_log)

    se = sub.add_parser("sensitivity", help="CB vs SC-90 replay lifts over a grid of settings")
    add_config_args(se)
    se.add_argument("--catalogue", required=True, help="truth catalogue directory")
    se.add_argument("--truth-users", required=True, nargs="+", help="truth user shard directories")
    se.add_argument("--streams", required=True, nargs="+", help="canonical streams.parquet files")
    se.add_argument("--out", required=True, help="output Parquet file (a CSV is written beside it)")
    se.set_defaults(func=_cmd_sensitivity)
