"""Cohorts of users by their overall podcast share: terciles (definitions in
:mod:`prefcal.overview`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["COHORTS", "assign_cohorts", "cohort_summary", "user_podcast_shares"]

COHORTS: tuple[str, ...] = ("music-first", "mixed", "podcast-leaning")


def user_podcast_shares(user_hour: pd.DataFrame) -> pd.DataFrame:
    """Per user: ``n_plays``, ``n_podcast`` and ``podcast_share = n_podcast / n_plays``.

    Indexed by ``participant_id`` (sorted); users without plays do not appear.
    """
    per_user = user_hour.groupby("participant_id", sort=True)[["n_plays", "n_podcast"]].sum()
    per_user = per_user[per_user["n_plays"] > 0]
    per_user["podcast_share"] = per_user["n_podcast"] / per_user["n_plays"]
    return per_user


def assign_cohorts(shares: pd.DataFrame, *, min_plays: int = 1, min_users: int = 1) -> pd.Series:
    """Tercile cohorts of users by podcast share (definition in the module docstring).

    ``shares`` is :func:`user_podcast_shares`' output. Users with fewer than ``min_plays``
    plays are left out. Every cohort must hold at least ``min_users`` users (on donated data
    ``privacy.k_anonymity``: a cohort's curve must not describe fewer people). Returns an ordered
    categorical Series (categories :data:`COHORTS`) indexed by participant_id, sorted by id.
    """
    eligible = shares[shares["n_plays"] >= min_plays]
    n = len(eligible)
    need = len(COHORTS) * max(int(min_users), 1)
    if n < need:
        raise ValueError(
            f"need at least {need} users with >= {min_plays} plays of a known content type for "
            f"tercile cohorts of at least {max(int(min_users), 1)} users, got {n} (legacy account "
            "data record no content type)"
        )
    ordered = eligible.reset_index().sort_values(
        ["podcast_share", "participant_id"], kind="mergesort"
    )
    rank = np.arange(n)
    codes = (rank * len(COHORTS)) // n  # equal groups: sizes differ by at most one
    cohort = pd.Series(
        pd.Categorical.from_codes(codes, categories=list(COHORTS), ordered=True),
        index=pd.Index(ordered["participant_id"].to_numpy(), name="participant_id"),
        name="cohort",
    )
    return cohort.sort_index()


def cohort_summary(shares: pd.DataFrame, cohorts: pd.Series) -> pd.DataFrame:
    """Per cohort: users, plays, pooled podcast share, and the range of users' shares."""
    joined = shares.join(cohorts, how="inner")
    grouped = joined.groupby("cohort", observed=False, sort=True)
    out = pd.DataFrame(
        {
            "n_users": grouped.size(),
            "n_plays": grouped["n_plays"].sum(),
            "n_podcast": grouped["n_podcast"].sum(),
            "min_user_share": grouped["podcast_share"].min(),
            "max_user_share": grouped["podcast_share"].max(),
        }
    )
    out["podcast_share"] = out["n_podcast"] / out["n_plays"]
    out.index = out.index.astype(str)
    return out.reset_index()
