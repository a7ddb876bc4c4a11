"""Remove plays that a participant's donation holds more than once.

The input is one participant's normalised streams in *preference order* (``_ord`` = 0, 1, ...:
newer extended history first, then old extended history, then typed account data, then legacy
account data; within a format by export unit and file), with ``_unit`` (the export a row came
from) and ``_file`` (the file). Three rules, applied in this order:

1. **Extended history, the same play twice** (overlapping extended exports, or one export given
   twice): rows with equal (``ts_end``, ``ms_played``, ``item_uri``, or ``item_name`` when the URI
   is null) are one play, because two distinct plays of one item cannot end in the same second after
   exactly the same number of milliseconds. The first in preference order is kept.
2. **Account data, the same play twice**: account data has minute precision, so one export may
   hold genuinely repeated rows (two 0 ms skips of one track in one minute). Rows are therefore
   matched *between exports*: with ``occ`` = how many equal rows came before it in the same export
   unit, a row is a duplicate when an earlier row (in preference order) has the same
   (minute, ``ms_played``, ``item_name``, ``creator_name``, ``occ``). This keeps, for every key, the
   largest count any single export holds (the multiset union of the exports).
3. **Account data that extended history also holds**: the account row has no URI and minute
   precision, so it is matched on (end minute, ``ms_played``, ``item_name``) with the extended row's
   ``ts_end`` floored to the minute, first in the same minute and then in the minute before (for
   exports that round instead of truncate); each extended row absorbs at most one account row.
   The extended row is kept. Rows without a name are never matched.

Removed rows are counted per file and rule: ``exact`` (rules 1 and 2) and ``account_in_extended``
(rule 3). The rules run on integer codes with sorts (numpy, Arrow), no per-row Python; the tests
check them against a row-at-a-time reference.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from prefcal.ingest.formats import ACCOUNT_FORMATS, EXTENDED_FORMATS

_MINUTE_MS = 60_000
_PACK_LIMIT = 1 << 62  # packed group keys stay below this (int64)


def _is_in_formats(table: pa.Table, formats: frozenset[str]) -> np.ndarray:
    mask = pc.is_in(table["source_format"], value_set=pa.array(sorted(formats)))
    return mask.to_numpy(zero_copy_only=False)


def _ms(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return pc.cast(col, pa.int64()).to_numpy(zero_copy_only=False)


def _codes(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Integer code of each distinct string (equal strings, equal codes); -1 for null."""
    enc = pc.dictionary_encode(col)
    if isinstance(enc, pa.ChunkedArray):
        enc = enc.combine_chunks()
    return pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def _extended_exact(
    t: np.ndarray,
    m: np.ndarray,
    uri: np.ndarray,
    name: np.ndarray,
    part: np.ndarray | None = None,
) -> np.ndarray:
    """Rule 1: boolean mask (over the extended rows, in preference order) of rows to keep, from
    their end time ``t`` (ms), ``ms_played`` ``m`` and the codes of ``item_uri`` and
    ``item_name`` (:func:`_codes`).

    Candidates are found with integers only: rows whose 64-bit mix of (``ts_end``,
    ``ms_played``, participant) equals another row's (equal keys always do, so nothing is
    missed); only they are then compared exactly. ``part`` (one participant when None) is the
    participant of each row: rows of different participants are never duplicates."""
    n = len(t)
    keep = np.ones(n, dtype=bool)
    if n < 2:
        return keep
    with np.errstate(over="ignore"):
        h = t.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) ^ m.astype(np.uint64) * np.uint64(
            0xC2B2AE3D27D4EB4F
        )
        if part is not None:
            h ^= part.astype(np.uint64) * np.uint64(0x165667B19E3779F9)
    order = np.argsort(h, kind="stable")
    hs = h[order]
    same = hs[1:] == hs[:-1]
    if not same.any():
        return keep
    cand_mask = np.zeros(n, dtype=bool)
    cand_mask[order[1:][same]] = True
    cand_mask[order[:-1][same]] = True
    cand = np.flatnonzero(cand_mask)  # ascending = preference order
    # item = the URI, or the name when the URI is null: codes >= 0 for URIs, <= -2 for names,
    # -1 for neither
    code = uri[cand]
    if (code < 0).any():
        code = np.where(code >= 0, code, -2 - name[cand])
    tc, mc = t[cand], m[cand]
    pc_ = np.zeros(len(cand), dtype=np.int64) if part is None else part[cand]
    o = np.lexsort((cand, code, mc, tc, pc_))  # by (participant, t, m, item, position)
    c, tc, mc, code, pc_ = cand[o], tc[o], mc[o], code[o], pc_[o]
    dup = (
        (tc[1:] == tc[:-1]) & (mc[1:] == mc[:-1]) & (code[1:] == code[:-1]) & (pc_[1:] == pc_[:-1])
    )
    keep[c[1:][dup]] = False
    return keep


def _group_ids(cols: list[np.ndarray]) -> np.ndarray:
    """Dense id of each row's tuple of integer keys (equal tuples, equal ids): the rank of the
    tuple in lexicographic order (first column most significant) among the distinct tuples.

    The columns are packed into one int64 (``id * span + (value - min)``, order-preserving),
    re-ranked densely whenever the next column would overflow it, and ranked with one
    :func:`numpy.unique`: the ids of a lexicographic sort of the columns, at the cost of a
    single-key sort."""
    n = len(cols[0])
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    packed = np.zeros(n, dtype=np.int64)
    size = 1  # packed values are in [0, size)
    for col in cols:
        c = np.asarray(col, dtype=np.int64)
        lo = int(c.min())
        span = int(c.max()) - lo + 1
        if size * span >= _PACK_LIMIT:
            _, packed = np.unique(packed, return_inverse=True)
            packed = packed.reshape(n)
            size = int(packed.max()) + 1
        if size * span >= _PACK_LIMIT:  # values too far apart to pack: rank them first
            _, c = np.unique(c, return_inverse=True)
            c = c.reshape(n)
            lo, span = 0, int(c.max()) + 1
        packed = packed * span + (c - lo)
        size *= span
    _, ids = np.unique(packed, return_inverse=True)
    return ids.reshape(n).astype(np.int64, copy=False)


def _cumcount(gid: np.ndarray) -> np.ndarray:
    """How many earlier rows (in row order) share each row's group id."""
    n = len(gid)
    order = np.argsort(gid, kind="stable")
    g = gid[order]
    idx = np.arange(n)
    start = np.ones(n, dtype=bool)
    start[1:] = g[1:] != g[:-1]
    occ = np.empty(n, dtype=np.int64)
    occ[order] = idx - np.maximum.accumulate(np.where(start, idx, 0))
    return occ


def _account_union(
    t: np.ndarray,
    m: np.ndarray,
    name: np.ndarray,
    creator: np.ndarray,
    unit: np.ndarray,
    part: np.ndarray | None = None,
) -> np.ndarray:
    """Rule 2: boolean mask (over the account rows, in preference order) of rows to keep;
    ``part``: the participant of each row (one participant when None)."""
    n = len(t)
    if n == 0:
        return np.zeros(0, dtype=bool)
    key = _group_ids([t, m, name, creator] if part is None else [part, t, m, name, creator])
    occ = _cumcount(_group_ids([key, unit]))
    _, first = np.unique(_group_ids([key, occ]), return_index=True)
    keep = np.zeros(n, dtype=bool)
    keep[first] = True
    return keep


def _account_in_extended(
    t_a: np.ndarray,
    m_a: np.ndarray,
    c_a: np.ndarray,
    t_e: np.ndarray,
    m_e: np.ndarray,
    c_e: np.ndarray,
    part_a: np.ndarray | None = None,
    part_e: np.ndarray | None = None,
) -> np.ndarray:
    """Rule 3: boolean mask over the (already deduplicated) account rows of those that extended
    history also holds, from end times (ms), ``ms_played`` and ``item_name`` codes (one code
    space for both sides, -1 for null) of the account (``_a``) and kept extended (``_e``) rows;
    ``part_a``/``part_e``: the participant of each row (one participant when None): rows are
    matched within a participant only."""
    removed = np.zeros(len(t_a), dtype=bool)
    if len(t_a) == 0 or len(t_e) == 0:
        return removed
    t_e = t_e // _MINUTE_MS * _MINUTE_MS
    e_ok = np.flatnonzero(c_e >= 0)
    a_ok = np.flatnonzero(c_a >= 0)
    if e_ok.size == 0 or a_ok.size == 0:
        return removed
    # keys of: extended rows | account rows (same minute) | account rows (minute before)
    k = len(e_ok), len(a_ok)
    keys = [
        np.concatenate([t_e[e_ok], t_a[a_ok], t_a[a_ok] - _MINUTE_MS]),
        np.concatenate([m_e[e_ok], m_a[a_ok], m_a[a_ok]]),
        np.concatenate([c_e[e_ok], c_a[a_ok], c_a[a_ok]]),
    ]
    if part_a is not None and part_e is not None:
        keys.insert(0, np.concatenate([part_e[e_ok], part_a[a_ok], part_a[a_ok]]))
    gid = _group_ids(keys)
    g_e, g_1, g_2 = gid[: k[0]], gid[k[0] : k[0] + k[1]], gid[k[0] + k[1] :]
    cap = np.bincount(g_e, minlength=gid.max() + 1)
    hit1 = _cumcount(g_1) < cap[g_1]
    cap = cap - np.bincount(g_1[hit1], minlength=len(cap))
    rest = np.flatnonzero(~hit1)
    hit2 = _cumcount(g_2[rest]) < cap[g_2[rest]]
    hit = hit1.copy()
    hit[rest[hit2]] = True
    removed[a_ok] = hit
    return removed


def _count(removed: Counter[tuple[int, str]], files: np.ndarray, rule: str) -> None:
    values, counts = np.unique(files, return_counts=True)
    for f, c in zip(values.tolist(), counts.tolist(), strict=True):
        removed[(int(f), rule)] += int(c)


def dedupe_streams(table: pa.Table) -> tuple[pa.Table, Counter[tuple[int, str]]]:
    """Apply the three rules (module doc) to one participant's streams in preference order.

    Returns the kept rows (same columns, same order) and the number of removed rows per
    (``_file``, rule).
    """
    keep, removed = dedupe_keep(table)
    if keep.all():
        return table, removed
    return table.filter(pa.array(keep)), removed


def dedupe_keep(table: pa.Table) -> tuple[np.ndarray, Counter[tuple[int, str]]]:
    """:func:`dedupe_streams` as a boolean mask of the rows to keep (no copy of the table), and
    the number of removed rows per (``_file``, rule).

    With a ``_p`` column (participant index) the table may hold several participants, each a
    block of rows in preference order with its own ``_file`` numbers: every rule then matches
    rows of the same participant only, so the mask equals that of each participant's block
    deduplicated alone (``_file`` must then tell the files of all participants apart)."""
    n = table.num_rows
    removed: Counter[tuple[int, str]] = Counter()
    if n == 0:
        return np.ones(0, dtype=bool), removed
    files = table["_file"].to_numpy()
    part = table["_p"].to_numpy().astype(np.int64) if "_p" in table.column_names else None
    keep = np.ones(n, dtype=bool)
    # every rule reads integer columns only: times, ms_played and the codes of the strings,
    # one code space per column over all rows (codes are compared for equality only)
    t, m = _ms(table["ts_end"]), table["ms_played"].to_numpy()
    name = _codes(table["item_name"])

    ext_idx = np.flatnonzero(_is_in_formats(table, EXTENDED_FORMATS))
    acc_idx = np.flatnonzero(_is_in_formats(table, ACCOUNT_FORMATS))

    part_e = None if part is None else part[ext_idx]
    keep_ext = np.ones(0, dtype=bool)
    if ext_idx.size:
        uri = _codes(table["item_uri"])
        keep_ext = _extended_exact(t[ext_idx], m[ext_idx], uri[ext_idx], name[ext_idx], part_e)
        keep[ext_idx[~keep_ext]] = False
        _count(removed, files[ext_idx[~keep_ext]], "exact")

    if acc_idx.size:
        part_a = None if part is None else part[acc_idx]
        t_a, m_a, name_a = t[acc_idx], m[acc_idx], name[acc_idx]
        keep_acc = _account_union(
            t_a,
            m_a,
            name_a,
            _codes(table["creator_name"])[acc_idx],
            table["_unit"].to_numpy()[acc_idx],
            part_a,
        )
        _count(removed, files[acc_idx[~keep_acc]], "exact")
        keep[acc_idx[~keep_acc]] = False
        acc_kept_idx = acc_idx[keep_acc]
        ext_kept_idx = ext_idx[keep_ext]
        in_ext = _account_in_extended(
            t_a[keep_acc],
            m_a[keep_acc],
            name_a[keep_acc],
            t[ext_kept_idx],
            m[ext_kept_idx],
            name[ext_kept_idx],
            None if part_a is None else part_a[keep_acc],
            None if part_e is None else part_e[keep_ext],
        )
        keep[acc_kept_idx[in_ext]] = False
        _count(removed, files[acc_kept_idx[in_ext]], "account_in_extended")

    return keep, removed
