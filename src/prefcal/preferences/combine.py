"""Stage 03's study-wide results from the per-shard summaries, one shard's counts at a time.

The per-shard jobs (``prefcal preferences features``) write each shard's user windows,
descriptors and context counts (:mod:`prefcal.preferences.shards`). The combining step needs, for
the whole study, only

* the population's type totals ``T`` of every window (sums over shards) and the two prior
  strengths ``alpha_user``, ``alpha_ctx`` (:func:`estimate_shrinkage`): every user's profiles
  depend on the other users only through these
  (:func:`prefcal.preferences.context.profiles_with_strengths`), so they are then computed
  shard by shard (:func:`shard_profiles`);
* per-user rows that are small (user windows and descriptors, a few hundred bytes per user).

The strengths of a window are estimated from the counts of every user of the window when it has
at most ``max_users`` users (the result equals :func:`prefcal.preferences.profiles_from_counts`
of all users), else from a seeded uniform sample of ``max_users`` of them
(:func:`prefcal.rq.subsample.user_subsample` rule: ``rng.choice`` on the sorted ids,
``SeedSequence([seed, SHRINKAGE_STREAM])``) with the study's totals ``T``. The strengths are two
scalars fitted on hundreds of thousands of user x context cells: a sample of 10,000 users pins them
down, and the memory of the fit stops growing with the study.

The per-cell output tables are written shard by shard and merged in participant order by ranges
of ids (:func:`write_sorted_tables`), the profile error of the validation is combined from
per-user sums (:class:`prefcal.preferences.stage.ProfileErrorSums`), and the example users of the
hourly figure are the best candidates of every shard. Peak memory is that of one shard plus the
per-user rows, whatever the number of users; the results equal those of the whole study at once
(tests/test_preferences_combine.py), except that the mean errors are summed per user first
(differences in the last bits).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from prefcal.preferences.context import (
    ContextCounts,
    ContextProfiles,
    profiles_with_strengths,
    shrinkage_strengths,
)
from prefcal.preferences.params import PreferenceParams
from prefcal.preferences.shards import checked_feature_paths, read_shard_counts
from prefcal.preferences.stage import (
    ProfileErrorSums,
    ProfileSummary,
    example_candidates,
    profile_error_sums,
    rank_examples,
    window_label,
)

__all__ = [
    "SHRINKAGE_STREAM",
    "StudyShrinkage",
    "StudyUsers",
    "estimate_shrinkage",
    "example_profiles",
    "profile_error_sums_by_shard",
    "read_user_tables",
    "shard_profiles",
    "take_profiles",
    "write_profile_tables",
    "write_sorted_tables",
]

#: stream of the seeded sample of users the prior strengths are estimated on
SHRINKAGE_STREAM = 31
#: rows per row group of the temporary per-shard tables (so a range of ids reads few groups)
_ROW_GROUP = 16_384


@dataclass
class StudyUsers:
    """The per-user tables of every shard (rows sorted by participant id) and each shard's ids."""

    user_windows: pd.DataFrame
    descriptors: pd.DataFrame
    shard_dirs: list[Path]
    shard_users: list[np.ndarray]

    @property
    def participants(self) -> np.ndarray:
        """Every participant id, sorted."""
        return self.user_windows["participant_id"].to_numpy(dtype=object)

    def shard_index(self) -> pd.Series:
        """Participant id -> index of the shard holding it."""
        return pd.Series(
            np.concatenate(
                [np.full(u.size, i, dtype=np.int64) for i, u in enumerate(self.shard_users)]
            ),
            index=pd.Index(np.concatenate(self.shard_users), dtype=object),
        )


def read_user_tables(shard_dirs: Sequence[str | Path], params: PreferenceParams) -> StudyUsers:
    """User windows and descriptors of every shard, each sorted by participant id (as
    :func:`prefcal.preferences.shards.read_shard_features` combines them)."""
    if not shard_dirs:
        raise ValueError("no shard feature folders given")
    dirs = [Path(d) for d in shard_dirs]
    windows, descriptors, users = [], [], []
    for d in dirs:
        paths = checked_feature_paths(d, params)
        w = pd.read_parquet(paths["user_windows"])
        windows.append(w)
        descriptors.append(pd.read_parquet(paths["descriptors"]))
        users.append(np.sort(w["participant_id"].to_numpy(dtype=object)))

    def combine(frames: list[pd.DataFrame]) -> pd.DataFrame:
        frame = pd.concat(frames, ignore_index=True)
        return frame.sort_values("participant_id", kind="stable", ignore_index=True)

    out = StudyUsers(combine(windows), combine(descriptors), dirs, users)
    dup = out.user_windows["participant_id"][out.user_windows["participant_id"].duplicated()]
    if len(dup):
        raise ValueError(f"participant {dup.iloc[0]!r} appears in two shards' user windows")
    return out


def _take_counts(counts: ContextCounts, rows: np.ndarray) -> ContextCounts:
    return replace(counts, users=counts.users[rows], folds=counts.folds[rows])


def _median_of_histogram(hist: np.ndarray) -> float:
    """``np.median`` of the non-negative integers whose counts are ``hist`` (nan if none)."""
    cum = np.cumsum(hist)
    n = int(cum[-1]) if cum.size else 0
    if n == 0:
        return float("nan")
    lower = int(np.searchsorted(cum, (n - 1) // 2, side="right"))
    upper = int(np.searchsorted(cum, n // 2, side="right"))
    return (lower + upper) / 2.0


def _add_histogram(hist: np.ndarray, values: np.ndarray) -> np.ndarray:
    counts = np.bincount(np.rint(values).astype(np.int64), minlength=hist.size)
    if counts.size > hist.size:
        hist = np.pad(hist, (0, counts.size - hist.size))
    return hist + counts


@dataclass
class StudyShrinkage:
    """What every shard's profiles need from the whole study (module doc), per window label:
    the type totals ``T`` and the prior strengths; plus the reference window's cell and user
    stream counts (histograms) that the paper quotes and the example users need."""

    method: str
    totals: dict[str, np.ndarray]
    alpha_user: dict[str, float]
    alpha_context: dict[str, float]
    n_estimation_users: int
    ref: str
    cell_histogram: np.ndarray
    user_histogram: np.ndarray

    def summary(self) -> ProfileSummary:
        """The reference window's numbers of :func:`prefcal.preferences.stage.stage_macros`."""
        return ProfileSummary(
            alpha_user=self.alpha_user[self.ref],
            alpha_context=self.alpha_context[self.ref],
            n_observed_cells=int(self.cell_histogram[1:].sum()),
            median_cell_streams=_median_of_histogram(self.cell_histogram[1:].astype(np.int64))
            + 1.0,
        )

    @property
    def median_user_streams(self) -> float:
        """Median over the reference window's users of their counted streams."""
        return _median_of_histogram(self.user_histogram)


def estimate_shrinkage(
    users: StudyUsers,
    params: PreferenceParams,
    *,
    max_users: int | None,
    seed: int,
    progress: Callable[[str], None] | None = None,
) -> StudyShrinkage:
    """Totals and prior strengths of every window (module doc), reading one shard at a time.

    A window with at most ``max_users`` users (or ``max_users`` None) has its strengths fitted
    on all of them, as :func:`prefcal.preferences.profiles_from_counts` does; a window with more
    on ``max_users`` of them (:func:`prefcal.rq.subsample.user_subsample` of the window's users,
    stream :data:`SHRINKAGE_STREAM`), read in a second pass over the shards.
    """
    from prefcal.rq.subsample import user_subsample

    labels = [window_label(w) for w in params.windows]
    ref = window_label(max(params.windows))
    cap = None if max_users is None else int(max_users)
    totals = {lab: np.zeros(len(params.types)) for lab in labels}
    window_users: dict[str, list[np.ndarray]] = {lab: [] for lab in labels}
    kept: dict[str, list[ContextCounts] | None] = {lab: [] for lab in labels}
    cell_hist = np.zeros(1, dtype=np.int64)
    user_hist = np.zeros(1, dtype=np.int64)
    n_shards = len(users.shard_dirs)
    for i, d in enumerate(users.shard_dirs):
        for lab, c in read_shard_counts(d, params).items():
            cell = c.folds.sum(axis=-1)
            user = cell.sum(axis=(1, 2, 3))
            totals[lab] = totals[lab] + user.sum(axis=0)
            window_users[lab].append(np.asarray(c.users, dtype=object))
            part = kept[lab]
            if part is not None:  # keep every user's counts while the window is within the cap
                part.append(c)
                if cap is not None and sum(len(x.users) for x in part) > cap:
                    kept[lab] = None
            if lab == ref:
                cell_hist = _add_histogram(cell_hist, cell.sum(axis=-1).ravel())
                user_hist = _add_histogram(user_hist, user.sum(axis=1))
        if progress is not None:
            progress(f"shrinkage: shard {i + 1}/{n_shards} read")
    samples = {
        lab: user_subsample(np.concatenate(window_users[lab]), cap, seed, SHRINKAGE_STREAM)
        for lab in labels
        if kept[lab] is None
    }
    if samples:  # second pass: the sampled users' counts only
        picked: dict[str, list[ContextCounts]] = {lab: [] for lab in samples}
        for i, d in enumerate(users.shard_dirs):
            for lab, c in read_shard_counts(d, params).items():
                if lab in samples:
                    ids = np.asarray(c.users, dtype=str)
                    picked[lab].append(_take_counts(c, np.flatnonzero(np.isin(ids, samples[lab]))))
            if progress is not None:
                progress(f"shrinkage: shard {i + 1}/{n_shards} sampled")
        kept.update(picked)
    alpha_user, alpha_context = {}, {}
    n_est = 0
    for lab in labels:
        fit_counts = ContextCounts.concat(kept[lab])
        n_est = max(n_est, len(fit_counts.users))
        alpha_user[lab], alpha_context[lab] = shrinkage_strengths(
            fit_counts, params.shrinkage, total=totals[lab]
        )
        kept[lab] = None
    return StudyShrinkage(
        method=params.shrinkage,
        totals=totals,
        alpha_user=alpha_user,
        alpha_context=alpha_context,
        n_estimation_users=n_est,
        ref=ref,
        cell_histogram=cell_hist,
        user_histogram=user_hist,
    )


def shard_profiles(
    shard_dir: str | Path, shrink: StudyShrinkage, params: PreferenceParams
) -> dict[str, ContextProfiles]:
    """The context profiles of one shard's users, per window, with the study's totals and
    strengths (equal to the rows of the whole study's profiles)."""
    return {
        lab: profiles_with_strengths(
            c,
            shrink.alpha_user[lab],
            shrink.alpha_context[lab],
            total=shrink.totals[lab],
            method=shrink.method,
        )
        for lab, c in read_shard_counts(shard_dir, params).items()
    }


def _iter_profiles(
    users: StudyUsers, shrink: StudyShrinkage, params: PreferenceParams
) -> Iterator[tuple[int, dict[str, ContextProfiles]]]:
    for i, d in enumerate(users.shard_dirs):
        yield i, shard_profiles(d, shrink, params)


def write_sorted_tables(
    parts: Sequence[str | Path],
    out_path: str | Path,
    boundaries: Sequence[str],
    key: str = "participant_id",
) -> int:
    """Merge Parquet files, each sorted by ``key``, into one file sorted by ``key`` (stable: a
    key's rows keep their order), one range ``[boundaries[j], boundaries[j + 1])`` of keys at a
    time (the last range is open), so memory holds one range. Returns the number of rows."""
    parts = [Path(p) for p in parts]
    if not parts:
        raise ValueError("no tables to merge")
    # an empty shard (no participant), or a column with no value in a shard, is stored as null
    # type: read every part as the unified schema (a null column casts to any type)
    schemas = [pq.read_schema(p) for p in parts]
    schema = pa.unify_schemas(schemas, promote_options="permissive").with_metadata(
        schemas[0].metadata
    )
    bounds = list(boundaries) or [""]
    n_rows = 0
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    with pq.ParquetWriter(out_path, schema) as writer:
        for j, lo in enumerate(bounds):
            filters = [(key, ">=", lo)] if j else []
            if j + 1 < len(bounds):
                filters.append((key, "<", bounds[j + 1]))
            tables = [pq.read_table(p, filters=filters or None, schema=schema) for p in parts]
            table = pa.concat_tables(tables)
            if table.num_rows == 0:
                continue
            order = pc.sort_indices(table, sort_keys=[(key, "ascending")])
            table = table.take(order)  # pyarrow's sort is stable
            writer.write_table(table.replace_schema_metadata(schema.metadata))
            n_rows += table.num_rows
    return n_rows


def write_profile_tables(
    users: StudyUsers,
    shrink: StudyShrinkage,
    params: PreferenceParams,
    context_path: str | Path,
    users_path: str | Path,
    *,
    users_per_range: int = 10_000,
    progress: Callable[[str], None] | None = None,
) -> None:
    """``context_profiles.parquet`` (:meth:`ContextProfiles.to_frame` of the reference window)
    and ``user_profiles.parquet`` (:meth:`ContextProfiles.users_frame`) of the whole study,
    written shard by shard and merged in participant order (:func:`write_sorted_tables`)."""
    ids = users.participants
    boundaries = [str(x) for x in ids[::users_per_range]]
    with tempfile.TemporaryDirectory(dir=Path(context_path).parent, prefix=".merge_") as tmp:
        ctx_parts, usr_parts = [], []
        for i, profiles in _iter_profiles(users, shrink, params):
            prof = profiles[shrink.ref]
            for frame, parts, name in (
                (prof.to_frame(), ctx_parts, "context"),
                (prof.users_frame(), usr_parts, "users"),
            ):
                parts.append(Path(tmp) / f"{name}_{i:03d}.parquet")
                pq.write_table(
                    pa.Table.from_pandas(frame, preserve_index=False),
                    parts[-1],
                    row_group_size=_ROW_GROUP,
                )
            if progress is not None:
                progress(f"profiles: shard {i + 1}/{len(users.shard_dirs)} written")
        write_sorted_tables(ctx_parts, context_path, boundaries)
        write_sorted_tables(usr_parts, users_path, boundaries)


def take_profiles(parts: Sequence[tuple[ContextProfiles, np.ndarray]]) -> ContextProfiles:
    """The rows ``rows`` of each of several :class:`ContextProfiles` (disjoint users, same
    study totals and strengths) as one object."""
    if not parts:
        raise ValueError("no profiles to take rows of")
    first = parts[0][0]

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(p, name)[rows] for p, rows in parts], axis=0)

    return replace(
        first,
        users=pd.Index(np.concatenate([np.asarray(p.users, dtype=object)[r] for p, r in parts])),
        cell_counts=cat("cell_counts"),
        user_counts=cat("user_counts"),
        user_shrunk=cat("user_shrunk"),
    )


def example_profiles(
    users: StudyUsers, shrink: StudyShrinkage, params: PreferenceParams, n: int = 4
) -> tuple[list[str], ContextProfiles]:
    """:func:`prefcal.preferences.stage.example_users` of the whole study (the reference
    window, floor = the median user's streams), from every shard's best ``n`` candidates, and
    the reference-window profiles of those users only."""
    floor = shrink.median_user_streams
    candidates, kept = [], []
    for _, profiles in _iter_profiles(users, shrink, params):
        prof = profiles[shrink.ref]
        frame = example_candidates(prof, floor, n)
        candidates.append(frame.drop(columns="row"))
        kept.append(take_profiles([(prof, frame["row"].to_numpy())]))
    chosen = list(rank_examples(pd.concat(candidates, ignore_index=True), n)["participant_id"])
    sub = take_profiles([(p, np.arange(len(p.users))) for p in kept])
    return chosen, take_profiles([(sub, sub.users.get_indexer(pd.Index(chosen, dtype=object)))])


def profile_error_sums_by_shard(
    users: StudyUsers,
    shrink: StudyShrinkage,
    params: PreferenceParams,
    static: Mapping[str, pd.DataFrame],
    truth_dirs: Sequence[str | Path],
    true_profiles: Callable[[Path], pd.DataFrame],
    progress: Callable[[str], None] | None = None,
) -> ProfileErrorSums:
    """The validation's per-user sums (:func:`prefcal.preferences.stage.profile_error_sums`)
    of the whole study, shard by shard: shard ``i``'s profiles against the truth of
    ``truth_dirs[i]`` (``true_profiles(dir)`` makes its tidy truth table; simulated shard ``i``
    holds the same users as data shard ``i``, and a truth user found in another data shard is an
    error). ``static``: the static estimates of every user (``{label: users x types}``)."""
    if len(truth_dirs) != len(users.shard_dirs):
        raise ValueError(
            f"{len(truth_dirs)} truth shards for {len(users.shard_dirs)} preference shards"
        )
    where = users.shard_index()
    fallback = {label: frame.mean(axis=0) for label, frame in static.items()}
    parts = []
    for i, profiles in _iter_profiles(users, shrink, params):
        truth = true_profiles(Path(truth_dirs[i]))
        ids = pd.unique(truth["participant_id"])
        elsewhere = where.reindex(ids)
        bad = elsewhere.notna() & (elsewhere != i)
        if bad.any():
            raise ValueError(
                f"truth shard {truth_dirs[i]} holds participant {bad.index[bad][0]!r}, whose "
                f"streams are in preference shard {int(elsewhere[bad].iloc[0])}, not {i}"
            )
        mine = {label: frame[frame.index.isin(ids)] for label, frame in static.items()}
        parts.append(
            profile_error_sums(mine, profiles, truth, params=params, static_fallback=fallback)
        )
        if progress is not None:
            progress(f"profile error: shard {i + 1}/{len(users.shard_dirs)} done")
    return ProfileErrorSums.concat(parts)
