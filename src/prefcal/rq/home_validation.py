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

import numpy as np
import pandas as pd

from prefcal.home.known_policies import (
    LoggedRequests,
    arm_type_counts,
    greedy_arms,
    serve_arms,
)
from prefcal.home.settings import HomeSettings
from prefcal.rq.attribution import Confusion, _run_row, attribute_policy, confusion_from_runs
from prefcal.rq.contract import TARGETS, SnapshotData, as_snapshot_data
from prefcal.rq.resampling import bootstrap_indices

__all__ = [
    "KnownPolicyStudies",
    "home_attribution_confusion",
    "identical_groups",
    "resample_users",
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
