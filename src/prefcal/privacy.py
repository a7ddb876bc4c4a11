"""Privacy of what leaves the project: k-anonymity of item-level tables, and an output scanner.

**k-anonymity of items** (STUDY.md section 4). For an item ``i`` (a track, episode or chapter URI,
or a name: artist, show, album, title) the number of participants who heard it is

    n(i) = |{u : participant u has at least one stream of i with ms_played >= min_ms_played}|,

counted over the canonical ``streams`` tables (:func:`participants_per_item`). An item-level table
that leaves the project (paper, report, CSVs under ``results/tables/``) keeps a row only when its
item has ``n(i) >= k`` (``privacy.k_anonymity`` in the config, 5 by default); every other row is
removed (:func:`suppress_rare_items`). A row whose item is null, or an item that no stream holds
(n = 0, for example a playlist-only track), is removed too: it cannot be shown to be common. Any
stage calls :func:`k_anonymous` with its table, the item column and the shards' streams files.

**Output scanner** (:func:`scan_outputs`): looks for values that must never appear in outputs
(dummy personal data planted by the simulator, rare items, simulated folder names) in every file
under given folders. Text is searched as text; Parquet files by every string value (also inside
lists and dictionaries); JSON and notebooks by every string they hold; PDF files by the text of
their (inflated) content streams; any other binary by its raw bytes. Two kinds of needles:

* ``substrings`` (and ``patterns``, regular expressions) match anywhere: distinctive values such as
  an IP address, a user name or a 22-character Spotify id;
* ``cells`` match a whole table cell only (CSV/TSV fields, LaTeX ``&`` cells, HTML ``<td>``/``<th>``
  text, JSON and Parquet string values, notebook text outputs line by line), or one item of a
  cell that lists several (``A; B; C``, ``A | B``): short or generic names (a track called
  "Love") that would match inside other words as substrings.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

__all__ = [
    "DEFAULT_K",
    "Finding",
    "k_anonymity_from_config",
    "k_anonymous",
    "participants_per_item",
    "rare_items",
    "scan_outputs",
    "suppress_rare_items",
    "trie_pattern",
]

DEFAULT_K = 5
StreamsInput = str | Path | pa.Table | pd.DataFrame


# --------------------------------------------------------------------------------------------
# k-anonymity of items


def k_anonymity_from_config(config: Mapping[str, Any]) -> int:
    """``config["privacy"]["k_anonymity"]`` (:data:`DEFAULT_K` when the section is absent)."""
    k = (config.get("privacy") or {}).get("k_anonymity", DEFAULT_K)
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"config key privacy.k_anonymity: must be an integer >= 1, got {k!r}")
    return k


def _as_inputs(streams: StreamsInput | Sequence[StreamsInput]) -> list[StreamsInput]:
    if isinstance(streams, (str, Path, pa.Table, pd.DataFrame)):
        return [streams]
    return list(streams)


def _pairs(table: pa.Table, item_col: str, min_ms_played: int) -> pa.Table:
    """Distinct (participant_id, item) pairs of one table (null items dropped)."""
    if min_ms_played > 0:
        table = table.filter(pc.greater_equal(table["ms_played"], min_ms_played))
    table = table.select(["participant_id", item_col]).filter(pc.is_valid(table[item_col]))
    return table.group_by(["participant_id", item_col]).aggregate([])


def _source_pairs(src: StreamsInput, cols: list[str], item_col: str, min_ms: int) -> pa.Table:
    """Distinct (participant, item) pairs of one input; a Parquet file is read in batches and
    folded as it goes (memory bounded by the file's distinct pairs)."""
    if isinstance(src, pd.DataFrame):
        return _pairs(pa.Table.from_pandas(src[cols], preserve_index=False), item_col, min_ms)
    if isinstance(src, pa.Table):
        return _pairs(src.select(cols), item_col, min_ms)
    pairs: list[pa.Table] = []
    for batch in pq.ParquetFile(src).iter_batches(columns=cols, batch_size=1 << 18):
        pairs.append(_pairs(pa.Table.from_batches([batch]), item_col, min_ms))
        pairs = [pa.concat_tables(pairs).group_by(["participant_id", item_col]).aggregate([])]
    if not pairs:
        schema = pq.read_schema(src)
        return pa.table(
            {c: pa.array([], schema.field(c).type) for c in ("participant_id", item_col)}
        )
    return pairs[0]


def _item_counts(pairs: pa.Table, item_col: str) -> pa.Table:
    return pairs.group_by([item_col]).aggregate([("participant_id", "count")])


def participants_per_item(
    streams: StreamsInput | Sequence[StreamsInput],
    item_col: str = "item_uri",
    min_ms_played: int = 0,
) -> pd.Series:
    """n(i) for every item of ``item_col``: how many distinct participants have a stream of it
    (with ``ms_played >= min_ms_played``).

    ``streams`` is a ``streams.parquet`` path, an Arrow table or a DataFrame, or a list of them
    (the shards). Each input is reduced to its per-item counts on its own, so memory is bounded by
    one shard's distinct (participant, item) pairs, not the study's; the counts of the inputs are
    summed, which is exact because a participant who appears in more than one input (not the case
    for shards, where a participant lives in one shard) has their pairs kept aside and counted
    once. Parquet files are read in record batches, only the two or three columns needed. Returns
    an int64 Series indexed by item, sorted by item; null items are not counted.
    """
    cols = ["participant_id", item_col] + (["ms_played"] if min_ms_played > 0 else [])
    inputs = _as_inputs(streams)
    if not inputs:
        return pd.Series([], dtype="int64", name="n_participants")
    # participants of each input (one column), to find those in more than one input
    ids = []
    for src in inputs:
        if isinstance(src, pd.DataFrame):
            col = pa.array(pd.unique(src["participant_id"].astype(object)), type=pa.large_string())
        elif isinstance(src, pa.Table):
            col = pc.unique(src["participant_id"])
        else:
            col = pc.unique(pq.read_table(src, columns=["participant_id"])["participant_id"])
        ids.append(col.cast(pa.large_string()))  # one type whatever the input's string type
    vc = pc.value_counts(pa.chunked_array(ids, type=pa.large_string()))
    shared = vc.field("values").filter(pc.greater(vc.field("counts"), 1))
    counts: list[pa.Table] = []
    kept: list[pa.Table] = []
    for src in inputs:
        pairs = _source_pairs(src, cols, item_col, min_ms_played)
        pid = pairs["participant_id"]
        in_shared = pc.is_in(pid.cast(pa.large_string()), value_set=shared)
        counts.append(_item_counts(pairs.filter(pc.invert(in_shared)), item_col))
        if len(shared):
            kept.append(pairs.filter(in_shared))
    if kept:
        once = pa.concat_tables(kept).group_by(["participant_id", item_col]).aggregate([])
        counts.append(_item_counts(once, item_col))
    summed = (
        pa.concat_tables(counts).group_by([item_col]).aggregate([("participant_id_count", "sum")])
    )
    s = pd.Series(
        summed["participant_id_count_sum"].to_numpy().astype(np.int64),
        index=pd.Index(summed[item_col].to_pylist(), name=item_col),
        name="n_participants",
    )
    return s.sort_index()


def rare_items(participant_counts: pd.Series | Mapping[Any, int], k: int) -> set[Any]:
    """The items with n(i) < k."""
    s = pd.Series(participant_counts, dtype="int64")
    return set(s.index[s.to_numpy() < k].tolist())


def suppress_rare_items(
    df: pd.DataFrame,
    item_col: str,
    participant_counts: pd.Series | Mapping[Any, int],
    k: int,
) -> pd.DataFrame:
    """The rows of ``df`` whose item (column ``item_col``) was heard by at least ``k``
    participants: n(i) >= k with n from ``participant_counts`` (item -> count, e.g. from
    :func:`participants_per_item`). Items missing from the counts (n = 0) and null items are
    removed. The index is kept; ``result.attrs["k_anonymity"]`` records k, the rows and the
    distinct items removed.
    """
    if item_col not in df.columns:
        raise KeyError(f"suppress_rare_items: no column {item_col!r} in the table")
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"suppress_rare_items: k must be an integer >= 1, got {k!r}")
    counts = pd.Series(participant_counts, dtype="int64")
    common = counts.index[counts.to_numpy() >= k]
    items = df[item_col]
    keep = items.isin(common).to_numpy() & items.notna().to_numpy()
    out = df.loc[keep].copy()
    removed = items[~keep]
    out.attrs["k_anonymity"] = {
        "k": int(k),
        "rows_suppressed": int((~keep).sum()),
        "items_suppressed": int(removed.nunique(dropna=True) + removed.isna().any()),
    }
    return out


def k_anonymous(
    df: pd.DataFrame,
    item_col: str,
    streams: StreamsInput | Sequence[StreamsInput],
    k: int = DEFAULT_K,
    stream_col: str | None = None,
    min_ms_played: int = 0,
) -> pd.DataFrame:
    """One call for any stage: :func:`suppress_rare_items` of ``df`` with the counts n(i) of
    :func:`participants_per_item` over ``streams`` (column ``stream_col``, by default the same
    name as ``item_col``: ``item_uri``, ``item_name``, ``creator_name`` or ``album_name``).

    Example (a stage's table of the most played artists, before it goes to results/tables)::

        k = privacy.k_anonymity_from_config(config)
        top = privacy.k_anonymous(top, "creator_name", shard_streams_paths, k=k)
    """
    counts = participants_per_item(streams, stream_col or item_col, min_ms_played)
    return suppress_rare_items(df, item_col, counts, k)


# --------------------------------------------------------------------------------------------
# output scanner


@dataclass(frozen=True)
class Finding:
    """A forbidden value found in a file: the file, the needle and where (``text``, ``cell``,
    ``parquet:<column>``, ``pdf``, ``bytes``)."""

    path: Path
    needle: str
    where: str


_TEXT_SUFFIXES = {
    ".csv", ".tsv", ".txt", ".tex", ".md", ".log", ".json", ".ipynb", ".html", ".htm",
    ".svg", ".yaml", ".yml", ".bib", ".aux", ".bbl", ".out", ".fls", ".rst", ".xml", ".blg",
}  # fmt: skip
_TD = re.compile(r"<t[dh][^>]*>(.*?)</t[dh]>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_TEX_ESCAPE = re.compile(r"\\([&%$#_{}])")
_PDF_STREAM = re.compile(rb"stream\r?\n(.*?)\r?\nendstream", re.DOTALL)


def trie_pattern(needles: Iterable[str]) -> str:
    """One regular expression matching any of ``needles``, shaped as a trie (common prefixes
    shared, chains of single children merged), so that thousands of needles are searched in one
    pass; a longer needle wins over its prefix."""
    trie: dict[str, Any] = {}
    for n in set(needles):
        if not n:
            continue
        node = trie
        for ch in n:
            node = node.setdefault(ch, {})
        node[""] = {}  # end of a needle

    def build(node: dict[str, Any]) -> str:
        ends = "" in node
        branches = []
        for ch, child in sorted(node.items()):
            if not ch:
                continue
            chain = ch
            while len(child) == 1 and "" not in child:  # merge a chain of single children
                ((nxt, child),) = child.items()
                chain += nxt
            branches.append(re.escape(chain) + build(child))
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if ends else body

    return build(trie)


def _strings(obj: Any) -> Iterator[str]:
    """Every string (keys included) inside a JSON value."""
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _strings(v)


def _html_cells(text: str) -> Iterator[str]:
    for m in _TD.finditer(text):
        yield html.unescape(_TAG.sub("", m.group(1))).strip()


def _tex_cells(text: str) -> Iterator[str]:
    for row in text.split("\\\\"):
        for cell in re.split(r"(?<!\\)&", row):
            cell = _TEX_ESCAPE.sub(r"\1", cell).strip()
            cell = re.sub(r"^\\(?:textbf|emph|texttt)\{(.*)\}$", r"\1", cell)
            yield cell


_LIST_SEP = re.compile(r"\s*[;|]\s*")


def _with_parts(cells: Iterable[str]) -> Iterator[str]:
    """Each cell, and the items of a cell that lists several (``A; B; C`` or ``A | B``)."""
    for c in cells:
        yield c
        if ";" in c or "|" in c:
            yield from (x.strip() for x in _LIST_SEP.split(c))


def _text_cells(path: Path, text: str) -> Iterator[str]:
    """Table cells of a text file, by its type (and the items of cells that list several)."""
    return _with_parts(_raw_text_cells(path, text))


def _raw_text_cells(path: Path, text: str) -> Iterator[str]:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        try:
            for row in csv.reader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ","):
                yield from (c.strip() for c in row)
        except csv.Error:
            pass
    elif suffix == ".tex":
        yield from _tex_cells(text)
    elif suffix in (".html", ".htm", ".svg", ".xml"):
        yield from _html_cells(text)
        yield from (html.unescape(t).strip() for t in re.findall(r">([^<>]+)<", text))
    elif suffix in (".json", ".ipynb"):
        try:
            doc = json.loads(text)
        except ValueError:
            return
        for s in _strings(doc):
            yield s.strip()
            if "<t" in s:
                yield from _html_cells(s)
            for line in s.splitlines():  # text/plain reprs of tables: cells split by 2+ spaces
                yield from (c.strip() for c in re.split(r"\s{2,}", line))
    # one cell per line, and the whole line, for any text file
    for line in text.splitlines():
        yield line.strip()


def _parquet_strings(path: Path) -> Iterator[tuple[str, pa.Array]]:
    """(column, distinct string values) of every string-valued column of a Parquet file."""
    table = pq.read_table(path)
    for name in table.column_names:
        col = table[name]
        typ = col.type
        while pa.types.is_list(typ) or pa.types.is_large_list(typ):
            col = pc.list_flatten(col)
            typ = col.type
        if pa.types.is_dictionary(typ):
            col = col.cast(typ.value_type)
            typ = col.type
        if pa.types.is_string(typ) or pa.types.is_large_string(typ):
            yield name, pc.unique(col)


def _pdf_text(data: bytes) -> str:
    """The raw bytes of a PDF plus its inflated content streams, as latin-1 text."""
    parts = [data]
    for m in _PDF_STREAM.finditer(data):
        try:
            parts.append(zlib.decompress(m.group(1)))
        except zlib.error:
            continue
    return b"\n".join(parts).decode("latin-1")


def scan_file(
    path: str | Path,
    substrings: re.Pattern[str] | None,
    cells: frozenset[str],
) -> list[Finding]:
    """Findings in one file (see the module doc); ``substrings`` is one compiled alternation."""
    path = Path(path)
    found: dict[tuple[str, str], Finding] = {}

    def hit(needle: str, where: str) -> None:
        found.setdefault((needle, where), Finding(path, needle, where))

    def search(text: str, where: str) -> None:
        if substrings is not None:
            for m in substrings.finditer(text):
                hit(m.group(0), where)

    suffix = path.suffix.lower()
    if suffix == ".parquet":
        for name, values in _parquet_strings(path):
            where = f"parquet:{name}"
            vals = [v for v in values.to_pylist() if v is not None]
            search("\n".join(vals), where)  # one pass over all distinct values
            for v in cells.intersection(_with_parts(x.strip() for x in vals)):
                hit(v, where)
        return list(found.values())
    data = path.read_bytes()
    if suffix == ".pdf":
        search(_pdf_text(data), "pdf")
        return list(found.values())
    if suffix in _TEXT_SUFFIXES or b"\x00" not in data[:8192]:
        text = data.decode("utf-8", errors="replace")
        search(text, "text")
        if suffix == ".tex":  # LaTeX escapes: \_ \& \% ... hide the value from a plain search
            search(_TEX_ESCAPE.sub(r"\1", text), "text")
        if suffix in (".html", ".htm", ".ipynb", ".svg", ".xml"):
            search(html.unescape(text), "text")
        if cells:
            for v in cells.intersection(_text_cells(path, text)):
                hit(v, "cell")
        return list(found.values())
    search(data.decode("latin-1"), "bytes")
    return list(found.values())


def scan_outputs(
    roots: Iterable[str | Path],
    substrings: Iterable[str] = (),
    cells: Iterable[str] = (),
    patterns: Iterable[str] = (),
    exclude: Iterable[str | Path] = (),
) -> list[Finding]:
    """Every occurrence of a forbidden value in the files under ``roots`` (files or folders).

    ``substrings`` match anywhere, ``patterns`` are regular expressions that match anywhere,
    ``cells`` match whole table cells only (module doc). Paths under any of ``exclude`` are not
    read. Returns the findings sorted by path and needle (empty: nothing found).
    """
    parts = [f"(?:{p})" for p in patterns]
    trie = trie_pattern(substrings)
    if trie:
        parts.insert(0, trie)
    rx = re.compile("|".join(parts)) if parts else None
    cell_set = frozenset(c.strip() for c in cells if c and c.strip())
    skip = [Path(p).resolve() for p in exclude]
    out: list[Finding] = []
    for root in roots:
        root = Path(root)
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for f in files:
            rf = f.resolve()
            if any(rf == s or rf.is_relative_to(s) for s in skip):
                continue
            out.extend(scan_file(f, rx, cell_set))
    return sorted(out, key=lambda x: (str(x.path), x.needle, x.where))
