"""Seeded user subsamples for the parts of stage 05 whose cost grows faster than the study.

A subsample is a rule on the sorted set of participant ids, never on shards or row order, so the
same config gives the same users whatever the number of shards. Each use draws from its own
stream ``default_rng(SeedSequence([seed, stream]))``: the H6 overlaps stream 61
(:func:`prefcal.rq.overlap.h6_users`), the Home policies' fit stream 49
(:func:`prefcal.evaluation.shards.fit_participants`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["ATTRIBUTION_STREAM", "HOME_VALIDATION_STREAM", "MIXED_STREAM", "user_subsample"]

#: the random stream of the mixed models' user subsample (H3, H4 p-values)
MIXED_STREAM = 62
#: the random stream of the Home-log validation's user subsample
HOME_VALIDATION_STREAM = 63
#: the random stream of the policy attribution's user subsample
ATTRIBUTION_STREAM = 64


def user_subsample(
    participants: Sequence[str] | np.ndarray, max_users: int | None, seed: int, stream: int
) -> np.ndarray:
    """All distinct ``participants`` (sorted) when there are at most ``max_users``, else a
    uniformly random ``max_users`` of them without replacement (``rng.choice`` on the sorted
    ids, ``rng = default_rng(SeedSequence([seed, stream]))``), sorted."""
    users = np.unique(np.asarray(participants, dtype=str))
    if max_users is None or users.size <= int(max_users):
        return users
    if int(max_users) < 1:
        raise ValueError(f"max_users must be >= 1, got {max_users}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), int(stream)]))
    return np.sort(rng.choice(users, size=int(max_users), replace=False))
