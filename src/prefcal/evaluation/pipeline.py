r"""Stage 04 end to end: fit the policies, replay them, the A/B test and the off-policy estimates.

The workflow runs the stage shard by shard (:mod:`prefcal.evaluation.shards`): ``prefcal home
fit`` (:func:`fit_from_files`), ``prefcal home evaluate`` per shard (:func:`evaluate_from_files`)
and the notebook's :func:`prefcal.evaluation.shards.combine`. :func:`run_stage` is the same
computation on data already in memory, in one piece (tests, a run by hand):

1. split the logged requests into train (policies and the OPE reward model are fitted on it) and
   test (the last ``home.test_days`` days);
2. the replay accuracies of every policy on the held-out logged requests with a stream and the
   lifts of CB over each baseline with paired user-bootstrap CIs (Table 1 analogue,
   :mod:`prefcal.evaluation.accuracy`), and the oracle ceiling (:mod:`prefcal.evaluation.oracle`);
3. the simulated A/B test against SC-90 (Table 2 analogue, :mod:`prefcal.evaluation.ab_test`);
4. every policy's stream rate estimated off-policy from the held-out logs and compared with the
   true value on the same requests (:mod:`prefcal.evaluation.ope_eval`).

Random streams: bootstrap draws use ``SeedSequence([seed, 46, step])``
(:func:`~prefcal.evaluation.shards.stage_seed`); the environment its own per-user streams.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from prefcal.evaluation.policyset import EvalSettings
from prefcal.evaluation.replay import PAPER_TABLE1, replay_table, split_log, table1_lifts
from prefcal.evaluation.shards import (
    FittedStage,
    ShardEvaluation,
    StageResult,
    combine,
    evaluate_shard,
    fit_participants,
    fit_stage,
)
from prefcal.home.candidates import HomeCatalogue
from prefcal.home.environment import HomeEnvironment
from prefcal.home.logging import HomeData, participant_ids, read_home_data
from prefcal.home.settings import HomeSettings
from prefcal.simulate.model import load_user_params

__all__ = [
    "PAPER_TABLE1",
    "StageResult",
    "evaluate_from_files",
    "fit_from_files",
    "load_study",
    "replay_table",
    "run_stage",
    "split_log",
    "table1_lifts",
]


def load_study(
    hs: HomeSettings,
    home_dirs: Sequence[str | Path],
    truth_user_dirs: Sequence[str | Path],
    catalogue_dir: str | Path,
    participants: np.ndarray | None = None,
) -> tuple[HomeEnvironment, HomeData, HomeData, np.ndarray]:
    """Environment, logged data, A/B requests and the population stream counts ``(G,)``.

    ``participants`` restricts the environment and the requests to these users (only their rows
    are read); the population counts are always those of every participant.
    """
    params = load_user_params(list(truth_user_dirs))
    if participants is not None:
        ids = participant_ids(params.user_index, hs.seed)
        params = params.take(np.flatnonzero(np.isin(ids, np.asarray(participants, dtype=object))))
    env = HomeEnvironment(params, HomeCatalogue.read(catalogue_dir), hs)
    log, ab, pop = read_home_data(list(home_dirs), env, participants)
    return env, log, ab, pop


def home_participants(home_dirs: Sequence[str | Path]) -> np.ndarray:
    """Participant ids of every shard's ``participants.parquet`` (one column read)."""
    out = []
    for d in home_dirs:
        path = Path(d) / "participants.parquet"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing (run `prefcal home log`)")
        out.extend(pq.read_table(path, columns=["participant_id"]).column(0).to_pylist())
    return np.asarray(out, dtype=object)


def fit_from_files(
    hs: HomeSettings,
    es: EvalSettings,
    home_dirs: Sequence[str | Path],
    truth_user_dirs: Sequence[str | Path],
    catalogue_dir: str | Path,
) -> FittedStage:
    """Step 1 of :mod:`prefcal.evaluation.shards`: read the training requests of the users of
    :func:`~prefcal.evaluation.shards.fit_participants` from every shard and fit on them."""
    keep = fit_participants(home_participants(home_dirs), es.fit_max_users, hs.seed)
    env, log, _, pop = load_study(hs, home_dirs, truth_user_dirs, catalogue_dir, keep)
    train, _, _ = split_log(log)
    return fit_stage(train, pop, hs, es, env.examination)


def evaluate_from_files(
    hs: HomeSettings,
    es: EvalSettings,
    fitted: FittedStage,
    home_dir: str | Path,
    truth_user_dir: str | Path,
    catalogue_dir: str | Path,
) -> ShardEvaluation:
    """Step 2 of :mod:`prefcal.evaluation.shards` for one shard's Home tables."""
    env, log, ab, _ = load_study(hs, [home_dir], [truth_user_dir], catalogue_dir)
    return evaluate_shard(env, log, ab, fitted, hs, es)


def run_stage(
    env: HomeEnvironment,
    log: HomeData,
    ab: HomeData,
    population: np.ndarray,
    hs: HomeSettings,
    es: EvalSettings,
) -> StageResult:
    """Steps 1-4 of the module docstring on data in memory, in one piece (every training request
    fits the policies: ``evaluation.fit_max_users`` only applies to :func:`fit_from_files`)."""
    if log.outcomes is None:
        raise ValueError("run_stage needs the logged requests")
    train, _, test = split_log(log)
    if train.n == 0 or test.n == 0:
        raise ValueError(
            "the log has no training or no held-out requests with a stream: raise "
            "home.requests_per_user or check home.test_days"
        )
    fitted = fit_stage(train, population, hs, es, env.examination)
    return combine(evaluate_shard(env, log, ab, fitted, hs, es), hs, es, fitted)
