"""``prefcal home``: the heavy, sharded parts of stage 04 (the workflow calls them).

Sub-commands::

    prefcal home log --config-json JSON --catalogue results/truth/catalogue \\
        --truth-users results/truth/users/shard_003 \\
        --streams results/data/shard_003/streams.parquet \\
        --out results/home/shard_003
    prefcal home sensitivity --config-json JSON --catalogue results/truth/catalogue \\
        --truth-users results/truth/users/shard_* --streams results/data/shard_*/streams.parquet \\
        --out results/evaluation/sensitivity.parquet
    prefcal home fit --config-json JSON --catalogue results/truth/catalogue \\
        --truth-users results/truth/users/shard_* --home results/home/shard_* \\
        --out results/evaluation/fitted.pkl
    prefcal home evaluate --config-json JSON --catalogue results/truth/catalogue \\
        --truth-users results/truth/users/shard_003 --home results/home/shard_003 \\
        --fitted results/evaluation/fitted.pkl --out results/evaluation/shard_003

``log`` simulates one shard's Home requests, logs them with the epsilon-greedy logging policy and
writes the tables of :mod:`prefcal.home.logging` (plus the A/B requests). ``sensitivity`` runs the
"when does CB win?" grid of :mod:`prefcal.evaluation.sensitivity` on a user subsample and writes
one Parquet (and a CSV beside it). ``fit`` fits the stage's policies and OPE reward model on the
training requests of at most ``evaluation.fit_max_users`` users and ``evaluate`` replays them,
runs the A/B test and the OPE sums on one shard (:mod:`prefcal.evaluation.shards`).
``--config-json`` holds at least ``seed``, ``simulation``,
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
    "fit": ("seed", "simulation", "home", "evaluation"),
    "evaluate": ("seed", "simulation", "home", "evaluation"),
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


def _cmd_fit(args: argparse.Namespace) -> int:
    from prefcal.evaluation.pipeline import fit_from_files
    from prefcal.evaluation.policyset import eval_settings
    from prefcal.home.settings import home_settings

    cfg = stage_config(args.config, args.config_json, NEEDED["fit"])
    t0 = time.perf_counter()
    hs, es = home_settings(cfg), eval_settings(cfg)
    fitted = fit_from_files(hs, es, args.home, args.truth_users, args.catalogue)
    fitted.save(args.out)
    print(
        f"home fit: {len(fitted.models)} learned policies and the OPE reward model on "
        f"{fitted.n_train_requests} training requests of {fitted.n_fit_users} users "
        f"(evaluation.fit_max_users = {es.fit_max_users}) -> {args.out} "
        f"in {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
    )
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from prefcal.evaluation.pipeline import evaluate_from_files
    from prefcal.evaluation.policyset import eval_settings
    from prefcal.evaluation.shards import FittedStage
    from prefcal.home.settings import home_settings

    cfg = stage_config(args.config, args.config_json, NEEDED["evaluate"])
    t0 = time.perf_counter()
    hs, es = home_settings(cfg), eval_settings(cfg)
    fitted = FittedStage.load(args.fitted)
    ev = evaluate_from_files(hs, es, fitted, args.home, args.truth_users, args.catalogue)
    ev.write(args.out)
    c = ev.counts.iloc[0]
    print(
        f"home evaluate: {c['users']} users, {c['test_requests']} held-out requests "
        f"({c['test_requests_streamed']} with a stream), {c['ab_requests']} A/B requests, "
        f"{ev.replay['policy'].nunique()} policies -> {args.out} "
        f"in {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``prefcal home`` and its sub-commands."""
    p = subparsers.add_parser(
        "home",
        help="simulated Home surface: logged requests, policy fit and evaluation (stage 04)",
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

    fi = sub.add_parser("fit", help="fit stage 04's policies on a sample of training requests")
    add_config_args(fi)
    fi.add_argument("--catalogue", required=True, help="truth catalogue directory")
    fi.add_argument("--truth-users", required=True, nargs="+", help="truth user shard directories")
    fi.add_argument("--home", required=True, nargs="+", help="every shard's Home table directory")
    fi.add_argument("--out", required=True, help="output pickle of the fitted state")
    fi.set_defaults(func=_cmd_fit)

    ev = sub.add_parser("evaluate", help="replay, A/B test and OPE sums of one shard")
    add_config_args(ev)
    ev.add_argument("--catalogue", required=True, help="truth catalogue directory")
    ev.add_argument("--truth-users", required=True, help="the shard's truth user directory")
    ev.add_argument("--home", required=True, help="the shard's Home table directory")
    ev.add_argument("--fitted", required=True, help="pickle of `prefcal home fit`")
    ev.add_argument("--out", required=True, help="output directory of the shard's sums")
    ev.set_defaults(func=_cmd_evaluate)
