r"""When does CB win? Replay lifts of CB over SC-90 as one setting of the study varies.

Each *run* re-simulates the Home logs of a fixed subsample of users (``evaluation.sensitivity.
n_users``, drawn once from ``SeedSequence([seed, 47])``) with one config value changed, refits
CB and SC-90 on the run's training days and reports the replay lifts of CB over SC-90 on its
held-out requests (:mod:`prefcal.evaluation.accuracy`, paired user bootstrap,
``evaluation.sensitivity.n_bootstrap`` replicates). Users keep their own random streams, so runs
differ only through the changed value (common random numbers).

Parameters varied (one at a time, the others at their config values):

Runs that keep the observed history share their requests and context features (only the slate
builder, arm grid or logging policy change), so they are computed once per slate size.

``context_strength``
    the population's ``context_strength`` (0 = content-type preference ignores hour, weekday and
    device). Users' Home behaviour follows the new value, and so must their history: every
    historical stream's type is redrawn from the model in its own context under the new value
    (:func:`prefcal.home.features.retype_history`; times, devices and counts stay as observed), so
    history, features and Home intents come from one population. Every value, including the
    config's, uses re-typed history. At 0 the context carries no information about the intent,
    and CB has nothing to learn that the 90-day history does not already say.
``epsilon``
    the logging policy's exploration rate (``home.logging.epsilon``): how much off-greedy data CB
    learns from.
``lam``
    the calibration weight of the greedy slate builder (``home.lam``) of every policy.
``arm_step``
    the arm grid (``home.arm_step``) of the logger and CB.
``slate_size``
    ``K`` (``home.slate_size``).
``examination_decay``
    the position bias of the examination model (``home.examination_decay``, ``theta_k = (k +
    1)^-decay``; 0 = every slot of an examined slate is looked at): how much a slate's lower slots
    count, hence how much a mixed slate hedges between intents.

Every run also replays the *oracle CB* (:mod:`prefcal.evaluation.oracle`: epsilon-greedy with
``evaluation.cb.epsilon`` on the TRUE chance of at least one stream of every arm, i.e. CB with an
exact reward model) on the same held-out requests: its lift over SC-90 (``oracle_lift``,
``oracle_lower``, ``oracle_upper``, same bootstrap resamples as CB's) is the ceiling of what a
better reward model could give CB in that setting.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd

from prefcal.evaluation.accuracy import accuracy
from prefcal.evaluation.oracle import oracle_arm_values, oracle_policy
from prefcal.evaluation.policyset import EvalSettings, fit_policies
from prefcal.evaluation.replay import replay_table, split_log, table1_lifts
from prefcal.home.environment import HomeEnvironment
from prefcal.home.features import StreamHistory, retype_history
from prefcal.home.logging import HomeData, participant_ids, simulate_home_data
from prefcal.home.settings import HomeSettings

__all__ = [
    "PARAMETERS",
    "run_sensitivity",
    "sensitivity_participants",
    "sensitivity_runs",
    "subsample_users",
]

PARAMETERS = (
    "context_strength",
    "epsilon",
    "lam",
    "arm_step",
    "slate_size",
    "examination_decay",
)
SUBSAMPLE_STREAM = 47
RETYPE_STREAM = 48


def subsample_users(env: HomeEnvironment, n_users: int) -> np.ndarray:
    """Rows of ``n_users`` users drawn without replacement (all when there are fewer), sorted."""
    n = env.params.n
    if n_users >= n:
        return np.arange(n)
    rng = np.random.default_rng(np.random.SeedSequence([env.settings.seed, SUBSAMPLE_STREAM]))
    return np.sort(rng.choice(n, size=n_users, replace=False))


def sensitivity_participants(env: HomeEnvironment, es: EvalSettings) -> list[str]:
    """Study ids of the users of :func:`subsample_users`: the only streams the runs read (so a
    caller can read just these from the shards; memory does not grow with the study)."""
    rows = subsample_users(env, es.sens_n_users)
    return participant_ids(env.params.user_index, env.settings.seed)[rows].tolist()


def sensitivity_runs(
    hs: HomeSettings, es: EvalSettings, context_strength: float
) -> Iterator[tuple[str, float, bool, HomeSettings]]:
    """``(parameter, value, is_config_value, settings)`` of every run (context runs first)."""
    for v in es.sens_context_strength:
        yield "context_strength", v, bool(np.isclose(v, context_strength)), hs
    grids = {
        "epsilon": ("logging_epsilon", es.sens_epsilon),
        "lam": ("lam", es.sens_lam),
        "arm_step": ("arm_step", es.sens_arm_step),
        "slate_size": ("slate_size", es.sens_slate_size),
        "examination_decay": ("examination_decay", es.sens_examination_decay),
    }
    for name, (field, values) in grids.items():
        default = getattr(hs, field)
        for v in values:
            value = int(v) if field == "slate_size" else float(v)
            yield (
                name,
                float(value),
                bool(np.isclose(value, default)),
                hs.with_overrides(**{field: value}),
            )


def _one_run(
    env: HomeEnvironment,
    streams: pd.DataFrame,
    history: StreamHistory,
    rows: np.ndarray,
    es: EvalSettings,
    random_state: int,
    prepared: dict[int, HomeData] | None = None,
) -> pd.DataFrame:
    k = env.settings.slate_size
    cached = None if prepared is None else prepared.get(k)
    log, profiles = simulate_home_data(env, streams, rows, history=history, prepared=cached)
    if prepared is not None and cached is None:
        prepared[k] = log
    assert log.outcomes is not None
    train, _, test = split_log(log)
    policies = fit_policies(
        train, profiles.counts.sum(axis=0), env.settings, es, include=("CB", "SC-90")
    )
    policies["CB-oracle"] = oracle_policy(oracle_arm_values(env, test), es.cb_epsilon)
    per_user = replay_table(test, policies)
    out = table1_lifts(per_user, "CB", ["SC-90"], es.sens_n_bootstrap, es.ci_level, random_state)
    ora = table1_lifts(
        per_user, "CB-oracle", ["SC-90"], es.sens_n_bootstrap, es.ci_level, random_state
    ).set_index("metric")
    out["acc_cb"] = out["metric"].map(accuracy(per_user["CB"]))
    out["acc_sc90"] = out["metric"].map(accuracy(per_user["SC-90"]))
    out["acc_oracle"] = out["metric"].map(accuracy(per_user["CB-oracle"]))
    for col in ("lift", "lower", "upper"):
        out[f"oracle_{col}"] = out["metric"].map(ora[col])
    out["test_streams"] = int(test.outcomes.streamed.sum()) if test.outcomes is not None else 0
    return out.drop(columns=["baseline", "value_cb", "value_base", "paper"])


def run_sensitivity(
    env: HomeEnvironment,
    streams: pd.DataFrame,
    es: EvalSettings,
    min_ms_played: int = 30_000,
    parameters: tuple[str, ...] = PARAMETERS,
) -> pd.DataFrame:
    """All runs of the module docstring: one row per (parameter, value, metric).

    Columns: parameter, value, is_config_value, metric, lift, lower, upper, acc_cb, acc_sc90,
    acc_oracle, oracle_lift, oracle_lower, oracle_upper, test_streams. ``env`` holds the users
    (truth), ``streams`` their canonical streams.
    """
    hs = env.settings
    rows = subsample_users(env, es.sens_n_users)
    pids = participant_ids(env.params.user_index, hs.seed)
    streams = streams.loc[streams["participant_id"].isin(pids[rows].tolist())]
    history = StreamHistory.from_streams(streams, pids[rows], min_ms_played)
    row_of_code = rows  # history codes follow the order of pids[rows]
    base_strength = float(np.median(env.params.context_strength))
    seed_boot = int(np.random.SeedSequence([hs.seed, 46, 10]).generate_state(1)[0])
    frames = []
    done: dict[HomeSettings, pd.DataFrame] = {}  # runs with the same settings are run once
    prepared: dict[int, HomeData] = {}  # requests and features by slate size (observed history)
    for param, value, is_default, settings in sensitivity_runs(hs, es, base_strength):
        if param not in parameters:
            continue
        if param != "context_strength" and settings in done:
            df = done[settings].copy()
        elif param == "context_strength":
            run_env = env.with_context_strength(value)
            rng = np.random.default_rng(np.random.SeedSequence([hs.seed, RETYPE_STREAM]))
            hist = retype_history(
                history,
                run_env.params,
                row_of_code,
                run_env.start_ms,
                hs.days,
                run_env.start_weekday,
                rng,
            )
            df = _one_run(run_env, hist.to_streams(), hist, rows, es, seed_boot)
        else:
            run_env = env.with_settings(settings)
            df = _one_run(run_env, streams, history, rows, es, seed_boot, prepared)
            done[settings] = df.copy()
        df.insert(0, "is_config_value", is_default)
        df.insert(0, "value", value)
        df.insert(0, "parameter", param)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)
