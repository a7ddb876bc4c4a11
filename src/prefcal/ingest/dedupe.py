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
_KEY_COLUMNS = [
    "ts_end",
    "ms_played",
    "item_uri",
    "item_name",
    "creator_name",
    "source_format",
    "_unit",
    "_ord",
]


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


def _extended_exact(ext: pa.Table) -> np.ndarray:
    """Rule 1: boolean mask (over ``ext``, in preference order) of rows to keep.

    Candidates are found with integers only: rows whose 64-bit mix of (``ts_end``,
    ``ms_played``) equals another row's (equal keys always do, so nothing is missed). Only the
    candidates' item strings are then encoded and compared exactly."""
    n = ext.num_rows
    keep = np.ones(n, dtype=bool)
    if n < 2:
        return keep
    t = _ms(ext["ts_end"])
    m = ext["ms_played"].to_numpy()
    with np.errstate(over="ignore"):
        h = t.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15) ^ m.astype(np.uint64) * np.uint64(
            0xC2B2AE3D27D4EB4F
        )
    order = np.argsort(h, kind="stable")
    hs = h[order]
    same = hs[1:] == hs[:-1]
    if not same.any():
        return keep
    cand_mask = np.zeros(n, dtype=bool)
    cand_mask[order[1:][same]] = True
    cand_mask[order[:-1][same]] = True
    cand = np.flatnonzero(cand_mask)  # ascending = preference order
    sub = ext.select(["item_uri", "item_name"]).take(pa.array(cand))
    # item = the URI, or the name when the URI is null: codes >= 0 for URIs, <= -2 for names,
    # -1 for neither
    code = _codes(sub["item_uri"])
    if (code < 0).any():
        code = np.where(code >= 0, code, -2 - _codes(sub["item_name"]))
    tc, mc = t[cand], m[cand]
    o = np.lexsort((cand, code, mc, tc))  # by (t, m, item, position)
    c, tc, mc, code = cand[o], tc[o], mc[o], code[o]
    dup = (tc[1:] == tc[:-1]) & (mc[1:] == mc[:-1]) & (code[1:] == code[:-1])
    keep[c[1:][dup]] = False
    return keep


def _group_ids(cols: list[np.ndarray]) -> np.ndarray:
    """Dense id of each row's tuple of integer keys (equal tuples, equal ids)."""
    n = len(cols[0])
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.lexsort(cols[::-1])  # first column most significant
    new = np.zeros(n, dtype=bool)
    new[0] = True
    for c in cols:
        cs = c[order]
        new[1:] |= cs[1:] != cs[:-1]
    ids = np.empty(n, dtype=np.int64)
    ids[order] = np.cumsum(new) - 1
    return ids


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
    t: np.ndarray, m: np.ndarray, name: np.ndarray, creator: np.ndarray, unit: np.ndarray
) -> np.ndarray:
    """Rule 2: boolean mask (over the account rows, in preference order) of rows to keep."""
    n = len(t)
    if n == 0:
        return np.zeros(0, dtype=bool)
    key = _group_ids([t, m, name, creator])
    occ = _cumcount(_group_ids([key, unit]))
    _, first = np.unique(_group_ids([key, occ]), return_index=True)
    keep = np.zeros(n, dtype=bool)
    keep[first] = True
    return keep


def _account_in_extended(
    t_a: np.ndarray, m_a: np.ndarray, names_a: pa.ChunkedArray, ext: pa.Table
) -> np.ndarray:
    """Rule 3: boolean mask over the (already deduplicated) account rows of those that extended
    history also holds."""
    removed = np.zeros(len(t_a), dtype=bool)
    if len(t_a) == 0 or ext.num_rows == 0:
        return removed
    n_e = ext.num_rows
    # one code space for the names of both sides
    codes = _codes(pa.chunked_array(ext["item_name"].chunks + names_a.chunks, pa.string()))
    c_e, c_a = codes[:n_e], codes[n_e:]
    t_e = _ms(ext["ts_end"]) // _MINUTE_MS * _MINUTE_MS
    m_e = ext["ms_played"].to_numpy()
    e_ok = np.flatnonzero(c_e >= 0)
    a_ok = np.flatnonzero(c_a >= 0)
    if e_ok.size == 0 or a_ok.size == 0:
        return removed
    # keys of: extended rows | account rows (same minute) | account rows (minute before)
    k = len(e_ok), len(a_ok)
    gid = _group_ids(
        [
            np.concatenate([t_e[e_ok], t_a[a_ok], t_a[a_ok] - _MINUTE_MS]),
            np.concatenate([m_e[e_ok], m_a[a_ok], m_a[a_ok]]),
            np.concatenate([c_e[e_ok], c_a[a_ok], c_a[a_ok]]),
        ]
    )
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
    the number of removed rows per (``_file``, rule)."""
    n = table.num_rows
    removed: Counter[tuple[int, str]] = Counter()
    if n == 0:
        return np.ones(0, dtype=bool), removed
    files = table["_file"].to_numpy()
    keep = np.ones(n, dtype=bool)
    keys = table.select(_KEY_COLUMNS)  # no copy; takes below copy only these columns

    ext_mask = _is_in_formats(keys, EXTENDED_FORMATS)
    ext_idx = np.flatnonzero(ext_mask)
    acc_idx = np.flatnonzero(_is_in_formats(keys, ACCOUNT_FORMATS))

    ext = keys if ext_idx.size == n else keys.take(pa.array(ext_idx))
    keep_ext = _extended_exact(ext)
    keep[ext_idx[~keep_ext]] = False
    _count(removed, files[ext_idx[~keep_ext]], "exact")

    if acc_idx.size:
        acc = keys.take(pa.array(acc_idx))
        t, m = _ms(acc["ts_end"]), acc["ms_played"].to_numpy()
        keep_acc = _account_union(
            t, m, _codes(acc["item_name"]), _codes(acc["creator_name"]), acc["_unit"].to_numpy()
        )
        _count(removed, files[acc_idx[~keep_acc]], "exact")
        keep[acc_idx[~keep_acc]] = False
        acc_kept_idx = acc_idx[keep_acc]
        in_ext = _account_in_extended(
            t[keep_acc],
            m[keep_acc],
            acc["item_name"].filter(pa.array(keep_acc)),
            ext.filter(pa.array(keep_ext)),
        )
        keep[acc_kept_idx[in_ext]] = False
        _count(removed, files[acc_kept_idx[in_ext]], "account_in_extended")

    return keep, removed
