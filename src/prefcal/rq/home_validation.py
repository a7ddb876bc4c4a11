r"""Validation of the policy attribution on Home logs served by each known policy.

For every known policy ``T`` (a recommender that follows one of the five targets) and replication
``r``, a simulated *study* is made from the default study's logged Home requests
(:mod:`prefcal.home.known_policies`): the same requests, candidates and slate builder as the real
logs, the arm chosen by the logger's epsilon-greedy mechanism around the arm nearest to ``T``'s
target, the snapshots' recommended type counts replaced by that slate's, and the participants
resampled with replacement (the study-to-study variation of who takes part). The snapshot table's
targets (what the analysis sees) are unchanged. Each study is attributed with
:func:`prefcal.rq.attribution.attribute_policy`, giving the confusion matrix of true x attributed
policy.

The targets the known policies follow are what the logger sees: ``hist_90`` / ``hist_7`` = the
filled 90 / 7-day shares of the log (``x_s90_*``, ``x_s7_*``), ``context`` = the context profile
(``x_hr_*``), ``global_mix`` and ``popularity`` = the snapshot table's (the same for every user).

Identifiability: two known policies whose greedy arms agree on at least ``identical`` of the
requests serve (nearly) the same slates and cannot be told apart from their logs by any method;
they form a *group*, and ``accuracy_merged`` counts an attribution within the true policy's group
as correct. Study (i, r) draws from ``SeedSequence(seed, spawn_key=(i, r))``: first the arm
uniforms (one per request), then the resampled participants.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from prefcal.home.known_policies import (
    LoggedRequests,
    arm_type_counts,
    greedy_arms,
    read_logged_requests,
    serve_arms,
)
from prefcal.home.settings import HomeSettings
from prefcal.rq.attribution import Confusion, _run_row, attribute_policy, confusion_from_runs
from prefcal.rq.contract import TARGETS, SnapshotData, as_snapshot_data
from prefcal.rq.resampling import bootstrap_indices
from prefcal.rq.subsample import HOME_VALIDATION_STREAM, user_subsample
from prefcal.simulate.model import CONTENT_TYPES

__all__ = [
    "KnownPolicyStudies",
    "home_attribution_confusion",
    "identical_groups",
    "read_validation_requests",
    "resample_users",
    "validation_users",
]


def resample_users(data: SnapshotData, idx: np.ndarray) -> SnapshotData:
    """The study made of users ``idx`` drawn with replacement: a user drawn ``m`` times keeps their
    participant id and has each snapshot ``m`` times (so that folds of users never split copies);
    users never drawn are left out. Rows of ``data`` must be grouped by user."""
    drawn = np.sort(np.asarray(idx, dtype=np.intp))
    starts = np.searchsorted(data.user, np.arange(data.n_users + 1))
    lengths = starts[drawn + 1] - starts[drawn]
    offsets = np.repeat(starts[drawn] - (np.cumsum(lengths) - lengths), lengths)
    rows = offsets + np.arange(int(lengths.sum()))
    users, user = np.unique(data.user[rows], return_inverse=True)
    return SnapshotData(
        participant_ids=data.participant_ids[users],
        user=user.astype(np.intp),
        snapshot_id=data.snapshot_id[rows],
        time=data.time[rows],
        types=data.types,
        counts=data.counts[rows],
        targets={k: v[rows] for k, v in data.targets.items()},
        extras={k: v[rows] for k, v in data.extras.items()},
    )


def identical_groups(
    greedy: dict[str, np.ndarray], identical: float = 0.99
) -> tuple[tuple[tuple[str, ...], ...], pd.DataFrame]:
    """Groups of policies whose greedy arms agree on at least ``identical`` of the requests
    (connected components of that relation, in policy order), and the agreement matrix."""
    names = list(greedy)
    agree = pd.DataFrame(
        [[float(np.mean(greedy[a] == greedy[b])) for b in names] for a in names],
        index=names,
        columns=names,
    )
    label = list(range(len(names)))
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            if agree.iloc[i, j] >= identical:
                old, new = label[j], label[i]
                label = [new if x == old else x for x in label]
    groups = []
    for lab in dict.fromkeys(label):
        members = tuple(n for n, x in zip(names, label, strict=True) if x == lab)
        if len(members) > 1:
            groups.append(members)
    return tuple(groups), agree


class KnownPolicyStudies:
    """The known policies' slate types on a study's logged requests, aligned with its snapshots.

    Computing every arm's slate once (``(S, A, G)`` type counts) makes each study cheap.
    """

    def __init__(
        self,
        snapshots: SnapshotData | pd.DataFrame,
        logged: LoggedRequests,
        settings: HomeSettings,
        policies: Sequence[str] = TARGETS,
    ) -> None:
        self.data = as_snapshot_data(snapshots)
        self.settings = settings
        self.policies = tuple(policies)
        row = pd.Index(logged.request_id).get_indexer(self.data.snapshot_id)
        if np.any(row < 0):
            bad = self.data.snapshot_id[int(np.flatnonzero(row < 0)[0])]
            raise ValueError(f"snapshot {bad!r} is not a logged request of the Home logs given")
        self.arm_counts = arm_type_counts(logged.relevance[row], settings)
        followed = {
            "hist_90": logged.shares[90][row],
            "hist_7": logged.shares[7][row],
            "context": logged.context[row],
        }
        for name in ("global_mix", "popularity"):
            p = self.data.targets[name]
            if not np.isfinite(p).all():  # undefined popularity: follow the fixed mix
                p = np.where(
                    np.isfinite(p).all(axis=1, keepdims=True), p, followed_fixed(self.data)
                )
            followed[name] = p
        unknown = [p for p in self.policies if p not in followed]
        if unknown:
            raise ValueError(f"no known Home policy for target(s) {unknown}")
        self.greedy = {p: greedy_arms(followed[p], settings) for p in self.policies}
        self.logged_arm = logged.arm[row]

    def counts(self, policy: str, epsilon: float, uniforms: np.ndarray) -> np.ndarray:
        """``(S, G)`` recommended type counts of ``policy`` at arm uniforms ``uniforms (S,)``."""
        arm = serve_arms(self.greedy[policy], self.settings, epsilon, uniforms)
        return self.arm_counts[np.arange(arm.size), arm].astype(np.float64)

    def study(self, policy: str, epsilon: float, rng: np.random.Generator) -> SnapshotData:
        """One study of ``policy`` (module docstring): arm uniforms, then resampled users."""
        counts = self.counts(policy, epsilon, rng.random(self.data.n_snapshots))
        d = self.data
        served = SnapshotData(
            d.participant_ids, d.user, d.snapshot_id, d.time, d.types, counts, d.targets, d.extras
        )
        return resample_users(served, bootstrap_indices(rng, d.n_users, 1)[0])


def followed_fixed(data: SnapshotData) -> np.ndarray:
    """The fixed global mix of ``data`` (its first defined row), ``(1, G)``."""
    p = data.targets["global_mix"]
    ok = np.isfinite(p).all(axis=1)
    if not ok.any():
        raise ValueError("the snapshot table has no defined global_mix row")
    return p[np.flatnonzero(ok)[0]][None, :]


def home_attribution_confusion(
    studies: KnownPolicyStudies,
    n_replications: int,
    seed: int,
    epsilon: float | None = None,
    floor: float = 1e-3,
    method: str = "combined",
    identical: float = 0.99,
) -> tuple[Confusion, pd.DataFrame]:
    """Attribute ``n_replications`` studies of every known policy (module docstring); returns the
    confusion (with the identifiability groups) and the greedy-arm agreement matrix. ``epsilon``
    defaults to the logger's ``home.logging.epsilon``."""
    eps = studies.settings.logging_epsilon if epsilon is None else float(epsilon)
    if int(n_replications) < 1:
        raise ValueError(f"n_replications must be >= 1, got {n_replications}")
    groups, agree = identical_groups(studies.greedy, identical)
    runs = []
    for i, policy in enumerate(studies.policies):
        for r in range(int(n_replications)):
            rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(i, r)))
            data = studies.study(policy, eps, rng)
            att = attribute_policy(
                data, 0, None, floor=floor, targets=studies.policies, method=method
            )
            runs.append(_run_row(policy, r, att))
    return confusion_from_runs(pd.DataFrame(runs), studies.policies, groups), agree


def validation_users(
    participants: Sequence[str] | np.ndarray, max_users: int | None, seed: int
) -> np.ndarray | None:
    """The participants of the Home-log validation (config ``rq.attribution.home_max_users``):
    None (every participant) when there are at most ``max_users``, else the seeded subsample of
    :func:`prefcal.rq.subsample.user_subsample` (stream ``HOME_VALIDATION_STREAM``). Every
    study re-serves and re-attributes all of its requests, so its cost grows with the users; a
    fixed number of them validates the method as well."""
    users = np.unique(np.asarray(participants, dtype=str))
    if max_users is None or users.size <= int(max_users):
        return None
    return user_subsample(users, max_users, seed, HOME_VALIDATION_STREAM)


def read_validation_requests(
    home_dir: str | Path,
    shards: Sequence[str],
    participants: np.ndarray | None = None,
    windows: Sequence[int] = (7, 90),
) -> LoggedRequests:
    """:func:`prefcal.home.known_policies.read_logged_requests`, reading only the requests of
    ``participants`` (every request when None), one shard at a time: the same arrays in the same
    order as reading everything and keeping their rows."""
    if participants is None:
        return read_logged_requests(home_dir, shards, windows)
    keep = [str(p) for p in participants]
    cols = [f"x_s{w}_{t}" for w in windows for t in CONTENT_TYPES]
    cols += [f"x_hr_{t}" for t in CONTENT_TYPES]
    need = ["request_id", "participant_id", "arm", "cand_relevance", *cols]
    parts = []
    for s in shards:
        path = Path(home_dir) / f"shard_{s}" / "log_requests.parquet"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing (run `prefcal home log`)")
        missing = [c for c in need if c not in set(pq.read_schema(path).names)]
        if missing:
            raise ValueError(f"{path}: missing column(s) {missing}")
        parts.append(pq.read_table(path, columns=need, filters=[("participant_id", "in", keep)]))
    table = pa.concat_tables(parts)
    arr = table.column("cand_relevance").combine_chunks()
    rel = arr.flatten().to_numpy().reshape(len(arr), arr.type.list_size)

    def col(name: str, dtype: type | str = np.float64) -> np.ndarray:
        return table.column(name).to_numpy().astype(dtype)

    def block(prefix: str) -> np.ndarray:
        return np.column_stack([col(f"{prefix}_{t}") for t in CONTENT_TYPES])

    ctx = block("x_hr")
    return LoggedRequests(
        request_id=col("request_id", object),
        participant_id=col("participant_id", object),
        relevance=rel,
        shares={int(w): block(f"x_s{w}") for w in windows},
        context=ctx / ctx.sum(axis=1, keepdims=True),
        arm=col("arm", np.int64),
    )
