r"""Stage 04 shard by shard: fit once on a sample, evaluate every shard, combine per-user sums.

The stage's memory must not grow with the study (issue 7), so it runs in three steps:

1. **fit** (one job, ``prefcal home fit``, :func:`fit_stage`): the learned state of the policies
   (:func:`prefcal.evaluation.policyset.fit_models`) and the OPE reward model
   (:class:`~prefcal.evaluation.ope_eval.PBMLogistic`) are fitted on the TRAINING requests of at
   most ``evaluation.fit_max_users`` users (:func:`fit_participants`: all of them in a study that
   small, else a seeded sample of the participant ids), with the population type mix of every
   participant. Written as one pickle (:class:`FittedStage`).
2. **evaluate** (one job per shard, ``prefcal home evaluate``, :func:`evaluate_shard`): on the
   shard's own requests, per user and policy, the replay-accuracy counts (Table 1 and the oracle
   ceiling, and the podcast counts by true intent of :mod:`prefcal.evaluation.intent_bands`),
   the A/B test's realised and expected outcome counts (Table 2) and the OPE estimators' parts,
   and per policy the sums behind the true values and the weight diagnostics. Written as small
   Parquet tables (:meth:`ShardEvaluation.write`).
3. **combine** (notebook 04, :func:`combine`): the shards' tables concatenated and sorted by
   participant id, then the paired user-bootstrap intervals, exactly as on one piece.

Every per-user number depends only on that user's requests (their draws are the user's own
streams, :data:`prefcal.home.environment.STREAMS`) and on the fitted state, sums over users are
taken in sorted id order, and the bootstrap draws from ``SeedSequence([seed, 46, step])`` over the
sorted users, so the results do not depend on the number of shards.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from prefcal.evaluation.ab_test import ab_table, simulate_ab
from prefcal.evaluation.accuracy import ACCURACY_METRICS
from prefcal.evaluation.intent_bands import BAND_COUNTS, intent_band, intent_band_table
from prefcal.evaluation.lifts import lift_frame
from prefcal.evaluation.ope_eval import (
    PBMLogistic,
    ope_from_parts,
    ope_user_parts,
    slot_data,
)
from prefcal.evaluation.oracle import oracle_policies, true_any_stream
from prefcal.evaluation.policyset import (
    BASELINES,
    EvalSettings,
    fit_models,
    policies_from_models,
)
from prefcal.evaluation.replay import replay_tables, split_log, table1_lifts
from prefcal.home.environment import HomeEnvironment
from prefcal.home.features import feature_names
from prefcal.home.logging import HomeData, logging_policy
from prefcal.home.online import OUTCOME_COLUMNS, expected_outcomes
from prefcal.home.policies import HomePolicy
from prefcal.home.settings import HomeSettings
from prefcal.policies import simplex_grid
from prefcal.rq.subsample import user_subsample
from prefcal.simulate.model import PODCAST

__all__ = [
    "CEILING_POLICIES",
    "EVAL_TABLES",
    "FIT_SAMPLE_STREAM",
    "FittedStage",
    "ShardEvaluation",
    "StageResult",
    "combine",
    "evaluate_shard",
    "fit_participants",
    "fit_stage",
    "stage_seed",
]

FIT_SAMPLE_STREAM = 49
BOOT_STREAM = 46
#: policies of the oracle ceiling table, in its order (CB and SC-90 are the stage's own)
CEILING_POLICIES = ("CB", "SC-90", "CB-oracle", "CB-oracle-greedy", "True-preference")
#: the Parquet tables of one shard's evaluation (:class:`ShardEvaluation`)
EVAL_TABLES = ("replay", "ab", "ope_users", "ope_policies", "oracle", "intent_bands", "counts")
COUNT_KEYS = (
    "users",
    "log_requests",
    "train_requests",
    "test_requests",
    "test_requests_streamed",
    "test_streams",
    "ab_requests",
)


def stage_seed(seed: int, step: int) -> int:
    """The bootstrap seed of step ``step``: ``SeedSequence([seed, 46, step])``'s first word."""
    seq = np.random.SeedSequence([int(seed), BOOT_STREAM, int(step)])
    return int(seq.generate_state(1, dtype=np.uint32)[0])


def fit_participants(participants: Sequence[str], max_users: int, seed: int) -> np.ndarray:
    """The users whose training requests fit the policies: all (sorted) when there are at most
    ``max_users``, else :func:`prefcal.rq.subsample.user_subsample` of ``max_users`` with
    stream 49 (a rule on the sorted ids, never on the sharding)."""
    if max_users < 1:
        raise ValueError(f"config key evaluation.fit_max_users must be >= 1, got {max_users}")
    return user_subsample(participants, max_users, seed, FIT_SAMPLE_STREAM)


@dataclass
class FittedStage:
    """What stage 04 learns from the training logs (picklable; the policies are rebuilt from it)."""

    models: dict[str, Any]  # fitted bandits and single-feature policy (fit_models)
    pbm: PBMLogistic  # OPE reward model
    population: np.ndarray  # (G,) counting streams of every participant (MB, popularity)
    n_fit_users: int
    n_train_requests: int

    def policies(self, hs: HomeSettings, es: EvalSettings) -> dict[str, HomePolicy]:
        """Every policy of :mod:`prefcal.evaluation.policyset`, in its order."""
        return policies_from_models(self.models, self.population, hs, es)

    def save(self, path: str | Path) -> None:
        """Pickle to ``path`` (parents created)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(pickle.dumps(self, protocol=5))

    @staticmethod
    def load(path: str | Path) -> FittedStage:
        """Read a pickle written by :meth:`save` (a file of this project's own workflow)."""
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"{p} does not exist (run `prefcal home fit` first)")
        out = pickle.loads(p.read_bytes())
        if not isinstance(out, FittedStage):
            raise ValueError(f"{p} does not hold a FittedStage")
        return out


def fit_stage(
    train: HomeData, population: np.ndarray, hs: HomeSettings, es: EvalSettings, env_theta: Any
) -> FittedStage:
    """Fit the policies' models and the OPE reward model on the logged ``train`` requests.

    ``env_theta`` is the environment's examination probabilities (the PBM's known position bias).
    """
    if train.outcomes is None or train.n == 0:
        raise ValueError(
            "the log has no training requests: raise home.requests_per_user or check home.test_days"
        )
    models = fit_models(train, hs, es)
    o = train.outcomes
    pbm = PBMLogistic(hs.n_types, es.ope_ridge).fit(
        train.inp.X, train.inp.relevance, train.inp.item_type, o.slates, o.streamed, env_theta
    )
    n_users = int(np.unique(train.participant_id).size)
    return FittedStage(models, pbm, np.asarray(population), n_users, int(train.n))


def _long(per_user: dict[str, pd.DataFrame], **tags: str) -> pd.DataFrame:
    """``{policy: per-user frame}`` as one long frame with a ``policy`` column (and ``tags``)."""
    parts = []
    for name, f in per_user.items():
        g = f.reset_index()
        g.insert(0, "policy", name)
        for k, v in tags.items():
            g.insert(1, k, v)
        parts.append(g)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


@dataclass
class ShardEvaluation:
    """Per-user and per-policy sums of one shard (or of several, concatenated)."""

    replay: pd.DataFrame  # policy, participant_id, replay counts (accuracy.replay_counts)
    ab: pd.DataFrame  # policy, kind (realised | expected), participant_id, OUTCOME_COLUMNS
    ope_users: pd.DataFrame  # index participant_id: rows, "policy|estimator|part" sums
    ope_policies: pd.DataFrame  # policy, rows, sum_w, sum_w2, max_w, unsupported, exposure,
    #                             true_streams, true_impressions
    oracle: pd.DataFrame  # policy, true_any_stream (sum over held-out streamed requests), requests
    intent_bands: pd.DataFrame  # policy, participant_id, band counts (intent_bands.band_counts)
    counts: pd.DataFrame  # one row per shard: COUNT_KEYS

    def write(self, out_dir: str | Path) -> None:
        """One Parquet per table into ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for name in EVAL_TABLES:
            getattr(self, name).to_parquet(out / f"{name}.parquet", index=name == "ope_users")

    @staticmethod
    def read(dirs: Sequence[str | Path]) -> ShardEvaluation:
        """The tables of every shard directory, concatenated (users in sorted id order)."""
        if not dirs:
            raise ValueError("need at least one shard directory of `prefcal home evaluate`")
        frames: dict[str, list[pd.DataFrame]] = {}
        for d in dirs:
            for name in EVAL_TABLES:
                path = Path(d) / f"{name}.parquet"
                if not path.exists():
                    raise FileNotFoundError(f"{path} is missing (run `prefcal home evaluate`)")
                frames.setdefault(name, []).append(pd.read_parquet(path))
        cat = {k: pd.concat(v, ignore_index=k != "ope_users") for k, v in frames.items()}
        order = {"policy": _first_order(cat["replay"]["policy"])}
        replay = _sorted(cat["replay"], ["policy", "participant_id"], order)
        ab = _sorted(cat["ab"], ["policy", "kind", "participant_id"], order)
        bands = _sorted(cat["intent_bands"], ["policy", "participant_id"], order)
        return ShardEvaluation(
            replay,
            ab,
            cat["ope_users"].sort_index(),
            cat["ope_policies"],
            cat["oracle"],
            bands,
            cat["counts"],
        )


def _first_order(values: pd.Series) -> dict[str, int]:
    return {v: i for i, v in enumerate(pd.unique(values))}


def _sorted(frame: pd.DataFrame, by: list[str], order: dict[str, dict[str, int]]) -> pd.DataFrame:
    """``frame`` sorted by ``by``; columns in ``order`` by the given rank (policies keep the
    order of the policy set), the others lexicographically."""
    keys = frame[by].copy()
    for col, rank in order.items():
        if col in keys:
            missing = set(keys[col]) - set(rank)
            for extra in sorted(missing):
                rank[extra] = len(rank)
            keys[col] = keys[col].map(rank)
    idx = keys.sort_values(by, kind="stable").index
    return frame.loc[idx].reset_index(drop=True)


def evaluate_shard(
    env: HomeEnvironment,
    log: HomeData,
    ab: HomeData,
    fitted: FittedStage,
    hs: HomeSettings,
    es: EvalSettings,
) -> ShardEvaluation:
    """Step 2 of the module docstring on the requests of ``log`` and ``ab`` (any set of users)."""
    if log.outcomes is None:
        raise ValueError("evaluate_shard needs the logged requests")
    _, test_all, _ = split_log(log)
    assert test_all.outcomes is not None
    test_all.inp.arm_slates()  # every arm's slates once: the replay rows below keep them
    test = test_all.take(np.flatnonzero(test_all.outcomes.streamed.any(axis=1)))
    policies = fitted.policies(hs, es)

    # Table 1 and the oracle ceiling: replay on held-out requests with a stream
    ceiling = {n: policies[n] for n in CEILING_POLICIES if n in policies}
    n_bands = len(es.intent_bands) - 1
    if test.n:
        ceiling.update(oracle_policies(env, test, es))
        band = intent_band(env.type_preference(test.batch)[:, PODCAST], es.intent_bands)
        per_user, per_band = replay_tables(
            test, {**policies, **ceiling}, band, n_bands, tuple(ceiling)
        )
        oracle_sum = true_any_stream(env, test, ceiling)
    else:
        per_user, per_band, oracle_sum = {}, {}, dict.fromkeys(ceiling, 0.0)
    bands_frame = _long(per_band) if per_band else _empty_bands(n_bands)
    oracle = pd.DataFrame(
        {
            "policy": list(oracle_sum),
            "true_any_stream": list(oracle_sum.values()),
            "requests": float(test.n),
        }
    )

    # Table 2: the simulated A/B test
    if ab.n:
        realised, expected = simulate_ab(env, ab, policies)
        ab_frame = pd.concat(
            [_long(realised, kind="realised"), _long(expected, kind="expected")],
            ignore_index=True,
        )
    else:
        ab_frame = pd.DataFrame(columns=["policy", "kind", "participant_id", *OUTCOME_COLUMNS])

    # OPE on every held-out logged request (with or without a stream)
    ope_users, ope_pol = _ope_parts(env, test_all, policies, fitted, hs, es)
    o = test.outcomes
    counts = {
        "users": int(np.unique(log.participant_id).size),
        "log_requests": int(log.n),
        "train_requests": int(np.sum(~log.test)),
        "test_requests": int(test_all.n),
        "test_requests_streamed": int(test.n),
        "test_streams": int(o.streamed.sum()) if o is not None else 0,
        "ab_requests": int(ab.n),
    }
    return ShardEvaluation(
        _long(per_user),
        ab_frame,
        ope_users,
        ope_pol,
        oracle,
        bands_frame,
        pd.DataFrame([counts]),
    )


def _empty_bands(n_bands: int) -> pd.DataFrame:
    cols = [f"{name}_{k}" for name in BAND_COUNTS for k in range(n_bands)]
    return pd.DataFrame(columns=["policy", "participant_id", *cols]).astype(
        dict.fromkeys(cols, np.float64)
    )


def _ope_parts(
    env: HomeEnvironment,
    test_all: HomeData,
    policies: dict[str, HomePolicy],
    fitted: FittedStage,
    hs: HomeSettings,
    es: EvalSettings,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-user OPE parts and per-policy sums (true values included) on the held-out requests."""
    o = test_all.outcomes
    assert o is not None
    if test_all.n == 0:
        empty = pd.DataFrame({"rows": np.zeros(0)}, index=pd.Index([], name="participant_id"))
        return empty, pd.DataFrame()
    gamma = fitted.pbm.predict(test_all.inp.X, test_all.inp.relevance, test_all.inp.item_type)
    logger = logging_policy(test_all.inp.arms, hs.logging_epsilon, hs.logging_window)
    m0 = logger.distribution(test_all.inp).containment
    sd = slot_data(o.slates, o.streamed, m0, env.examination, gamma, test_all.participant_id)
    # user codes of slot_data: order of first appearance
    participants = pd.unique(pd.Series(np.asarray(test_all.participant_id, dtype=object)))
    a = env.attraction(test_all.batch)
    exposures, truth = {}, {}
    for name, pol in policies.items():
        exposures[name] = pol.distribution(test_all.inp).exposure
        e = expected_outcomes(env, test_all.batch, test_all.inp, pol, a)
        truth[name] = (float(e["streams"].sum()), float(e["impressions"].sum()))
    users_frame, pol_frame = ope_user_parts(sd, exposures, list(participants), m0, es.ope_lambda)
    pol_frame["true_streams"] = pol_frame["policy"].map(lambda p: truth[p][0])
    pol_frame["true_impressions"] = pol_frame["policy"].map(lambda p: truth[p][1])
    return users_frame, pol_frame


@dataclass
class StageResult:
    """Everything stage 04 reports (long tables; the notebook formats them)."""

    accuracy: pd.DataFrame  # policy, metric, value, lift, lower, upper (lift over SC-90)
    table1: pd.DataFrame  # baseline, metric, value_cb, value_base, lift, lower, upper, paper
    ab: pd.DataFrame  # policy, metric, value, lift, lower, upper, true_value, true_lift
    ope: pd.DataFrame  # policy, estimator, estimate, lower, upper, true, rel_error, ...
    counts: dict[str, int]  # sizes: users, train / test requests, streams ...
    ceiling: pd.DataFrame  # the oracle check (prefcal.evaluation.oracle)
    intent_bands: pd.DataFrame  # podcast accuracy by true intent (prefcal.evaluation.intent_bands)


def _per_user(long: pd.DataFrame, policies: Sequence[str]) -> dict[str, pd.DataFrame]:
    out = {}
    for name in policies:
        f = long[long["policy"] == name].drop(columns=["policy"])
        out[name] = f.set_index("participant_id").sort_index()
    return out


def combine(
    ev: ShardEvaluation, hs: HomeSettings, es: EvalSettings, fitted: FittedStage
) -> StageResult:
    """Step 3 of the module docstring: the stage's tables from the shards' sums."""
    if ev.replay.empty:
        raise ValueError(
            "no held-out logged request has a stream: raise home.requests_per_user or check "
            "home.test_days"
        )
    names = list(pd.unique(ev.replay["policy"]))
    main = [n for n in names if n not in CEILING_POLICIES[2:]]
    per_user = _per_user(ev.replay, main)
    acc = lift_frame(
        per_user,
        ACCURACY_METRICS,
        "SC-90",
        None,
        es.n_bootstrap,
        es.ci_level,
        stage_seed(hs.seed, 1),
    )
    base = [b for b in BASELINES if b in per_user]
    t1 = table1_lifts(per_user, "CB", base, es.n_bootstrap, es.ci_level, stage_seed(hs.seed, 2))

    ab_names = list(pd.unique(ev.ab["policy"]))
    realised = _per_user(ev.ab[ev.ab["kind"] == "realised"].drop(columns="kind"), ab_names)
    expected = _per_user(ev.ab[ev.ab["kind"] == "expected"].drop(columns="kind"), ab_names)
    t2 = ab_table(realised, expected, "SC-90", es.n_bootstrap, es.ci_level, stage_seed(hs.seed, 3))

    pol = ev.ope_policies.groupby("policy", sort=False)[["true_streams", "true_impressions"]].sum()
    truth = (pol["true_streams"] / pol["true_impressions"]).to_dict()
    ope = ope_from_parts(
        ev.ope_users, ev.ope_policies, truth, es.n_bootstrap, es.ci_level, stage_seed(hs.seed, 4)
    )

    ceil_names = [n for n in CEILING_POLICIES if n in names]
    ceiling = lift_frame(
        _per_user(ev.replay, ceil_names),
        ACCURACY_METRICS,
        "SC-90",
        None,
        es.n_bootstrap,
        es.ci_level,
        hs.seed,
    )
    o = ev.oracle.groupby("policy", sort=False)[["true_any_stream", "requests"]].sum()
    ceiling["true_any_stream"] = ceiling["policy"].map(o["true_any_stream"] / o["requests"])

    band_names = [n for n in ceil_names if n in set(ev.intent_bands["policy"])]
    bands = intent_band_table(
        _per_user(ev.intent_bands, band_names),
        es.intent_bands,
        "SC-90",
        es.n_bootstrap,
        es.ci_level,
        stage_seed(hs.seed, 5),
    )

    counts = {k: int(ev.counts[k].sum()) for k in COUNT_KEYS}
    counts["arms"] = int(simplex_grid(hs.n_types, hs.arm_step).shape[0])
    counts["features"] = len(feature_names(hs.windows))
    counts["fit_users"] = fitted.n_fit_users
    counts["fit_train_requests"] = fitted.n_train_requests
    return StageResult(acc, t1, t2, ope, counts, ceiling, bands)
