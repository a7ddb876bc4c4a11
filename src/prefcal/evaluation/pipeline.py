r"""Stage 04 end to end: load the Home logs, fit the policies, and compute Tables 1 and 2 and OPE.

:func:`load_study` reads the truth (users, catalogue) and the per-shard Home tables written by
``prefcal home log``; :func:`run_stage` then

1. splits the logged requests into train (policies and the OPE reward model are fitted on it) and
   test (the last ``home.test_days`` days);
2. computes the replay accuracies of every policy on the held-out logged requests with a stream
   and the lifts of CB over each baseline with paired user-bootstrap CIs (Table 1 analogue,
   :mod:`prefcal.evaluation.accuracy`);
3. runs the simulated A/B test against SC-90 (Table 2 analogue, :mod:`prefcal.evaluation.ab_test`);
4. estimates every policy's stream rate off-policy from the held-out logs and compares it with
   the true value on the same requests (:mod:`prefcal.evaluation.ope_eval`).

Random streams: bootstrap draws use ``SeedSequence([seed, 46, step])``; the A/B test
``SeedSequence([seed, 45, policy])``; the environment its own per-user streams.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from prefcal.evaluation.ab_test import ab_table, simulate_ab
from prefcal.evaluation.accuracy import ACCURACY_METRICS, accuracy, replay_counts, user_counts
from prefcal.evaluation.lifts import lift_frame
from prefcal.evaluation.ope_eval import PBMLogistic, ope_estimates, slot_data
from prefcal.evaluation.policyset import BASELINES, EvalSettings, fit_policies
from prefcal.home.candidates import HomeCatalogue
from prefcal.home.environment import HomeEnvironment
from prefcal.home.logging import HomeData, logging_policy, read_home_data
from prefcal.home.online import expected_outcomes
from prefcal.home.policies import HomePolicy
from prefcal.home.settings import HomeSettings
from prefcal.simulate.model import load_user_params

__all__ = [
    "PAPER_TABLE1",
    "StageResult",
    "load_study",
    "replay_table",
    "run_stage",
    "split_log",
    "table1_lifts",
]

#: Feijer et al. (2025), offline: lift of CB in podcast / overall accuracy over each baseline.
PAPER_TABLE1 = {
    "SC-7": {"podcast": 0.35, "overall": 0.102},
    "SC-90": {"podcast": 0.256, "overall": 0.072},
    "MB": {"podcast": 0.166, "overall": 0.028},
}
BOOT_STREAM = 46


def _seed(hs: HomeSettings, step: int) -> int:
    """A deterministic integer seed for bootstrap step ``step``."""
    seq = np.random.SeedSequence([hs.seed, BOOT_STREAM, step])
    return int(seq.generate_state(1, dtype=np.uint32)[0])


def load_study(
    hs: HomeSettings,
    home_dirs: Sequence[str | Path],
    truth_user_dirs: Sequence[str | Path],
    catalogue_dir: str | Path,
) -> tuple[HomeEnvironment, HomeData, HomeData, np.ndarray]:
    """Environment, logged data, A/B requests and the population stream counts ``(G,)``."""
    params = load_user_params(list(truth_user_dirs))
    env = HomeEnvironment(params, HomeCatalogue.read(catalogue_dir), hs)
    log, ab, pop = read_home_data(list(home_dirs), env)
    return env, log, ab, pop


@dataclass
class StageResult:
    """Everything stage 04 reports (long tables; the notebook formats them)."""

    accuracy: pd.DataFrame  # policy, metric, value, lift, lower, upper (lift over SC-90)
    table1: pd.DataFrame  # baseline, metric, value_cb, value_base, lift, lower, upper, paper
    ab: pd.DataFrame  # policy, metric, value, lift, lower, upper, true_value, true_lift
    ope: pd.DataFrame  # policy, estimator, estimate, lower, upper, true, rel_error, ...
    counts: dict[str, int]  # sizes: users, train / test requests, streams ...


def replay_table(test: HomeData, policies: dict[str, HomePolicy]) -> dict[str, pd.DataFrame]:
    """Per-user accuracy counts of every policy on ``test`` (held-out requests with a stream)."""
    if test.outcomes is None:
        raise ValueError("replay needs logged requests")
    out = {}
    for name, pol in policies.items():
        d = pol.distribution(test.inp)
        c = replay_counts(
            test.outcomes.streamed,
            test.outcomes.slates,
            d.containment,
            d.mix,
            test.inp.item_type,
        )
        out[name] = user_counts(c, test.participant_id)
    return out


def table1_lifts(
    per_user: dict[str, pd.DataFrame],
    treatment: str,
    baselines: Sequence[str],
    n_boot: int,
    level: float,
    random_state: int,
) -> pd.DataFrame:
    """Lifts of ``treatment`` over each baseline (same user resamples for every baseline)."""
    rows = []
    for base in baselines:
        pair = {base: per_user[base], treatment: per_user[treatment]}
        lf = lift_frame(pair, ACCURACY_METRICS, base, [treatment], n_boot, level, random_state)
        for rec in lf.to_dict("records"):
            acc_b = accuracy(per_user[base])[rec["metric"]]
            paper = PAPER_TABLE1.get(base, {}).get(rec["metric"], np.nan)
            rows.append(
                {
                    "baseline": base,
                    "metric": rec["metric"],
                    "value_cb": rec["value"],
                    "value_base": acc_b,
                    "lift": rec["lift"],
                    "lower": rec["lower"],
                    "upper": rec["upper"],
                    "paper": paper,
                }
            )
    return pd.DataFrame(rows)


def split_log(log: HomeData) -> tuple[HomeData, HomeData, HomeData]:
    """``(train, held_out, streamed)``: the logged requests of the training days, the held-out
    requests (the last ``home.test_days`` days; OPE), and those of them with at least one stream
    (the replay evaluation set of :mod:`prefcal.evaluation.accuracy`)."""
    if log.outcomes is None:
        raise ValueError("split_log needs the logged requests (with outcomes)")
    train = log.take(np.flatnonzero(~log.test))
    held_out = log.take(np.flatnonzero(log.test))
    assert held_out.outcomes is not None
    return train, held_out, held_out.take(np.flatnonzero(held_out.outcomes.streamed.any(axis=1)))


def run_stage(
    env: HomeEnvironment,
    log: HomeData,
    ab: HomeData,
    population: np.ndarray,
    hs: HomeSettings,
    es: EvalSettings,
) -> StageResult:
    """Steps 1-4 of the module docstring."""
    if log.outcomes is None:
        raise ValueError("run_stage needs the logged requests")
    train, test_all, test = split_log(log)
    if train.n == 0 or test.n == 0:
        raise ValueError(
            "the log has no training or no held-out requests with a stream: raise "
            "home.requests_per_user or check home.test_days"
        )
    policies = fit_policies(train, population, hs, es)

    # Table 1: replay accuracy
    per_user = replay_table(test, policies)
    acc = lift_frame(
        per_user, ACCURACY_METRICS, "SC-90", None, es.n_bootstrap, es.ci_level, _seed(hs, 1)
    )
    base = [b for b in BASELINES if b in policies]
    t1 = table1_lifts(per_user, "CB", base, es.n_bootstrap, es.ci_level, _seed(hs, 2))

    # Table 2: simulated A/B test
    realised, expected = simulate_ab(env, ab, policies, hs.seed)
    t2 = ab_table(realised, expected, "SC-90", es.n_bootstrap, es.ci_level, _seed(hs, 3))

    # OPE on the held-out logged requests (all of them, with or without a stream)
    tr_out = train.outcomes
    assert tr_out is not None and test_all.outcomes is not None
    model = PBMLogistic(hs.n_types, es.ope_ridge).fit(
        train.inp.X,
        train.inp.relevance,
        train.inp.item_type,
        tr_out.slates,
        tr_out.streamed,
        env.examination,
    )
    gamma = model.predict(test_all.inp.X, test_all.inp.relevance, test_all.inp.item_type)
    logger = logging_policy(test_all.inp.arms, hs.logging_epsilon, hs.logging_window)
    m0 = logger.distribution(test_all.inp).containment
    sd = slot_data(
        test_all.outcomes.slates,
        test_all.outcomes.streamed,
        m0,
        env.examination,
        gamma,
        test_all.participant_id,
    )
    a = env.attraction(test_all.batch)
    exposures, truth = {}, {}
    for name, pol in policies.items():
        exposures[name] = pol.distribution(test_all.inp).exposure
        e = expected_outcomes(env, test_all.batch, test_all.inp, pol, a)
        truth[name] = float(e["streams"].sum() / e["impressions"].sum())
    ope = ope_estimates(
        sd, exposures, truth, m0, es.ope_lambda, es.n_bootstrap, es.ci_level, _seed(hs, 4)
    )
    counts = {
        "users": int(np.unique(log.participant_id).size),
        "log_requests": int(log.n),
        "train_requests": int(train.n),
        "test_requests": int(test_all.n),
        "test_requests_streamed": int(test.n),
        "test_streams": int(test.outcomes.streamed.sum()) if test.outcomes is not None else 0,
        "ab_requests": int(ab.n),
        "arms": int(log.inp.arms.shape[0]),
        "features": int(log.inp.X.shape[1]),
    }
    return StageResult(acc, t1, t2, ope, counts)
