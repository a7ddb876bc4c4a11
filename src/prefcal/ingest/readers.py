"""Parse the bytes of one export file into typed Arrow columns, checking every value's type.

Stream files are JSON arrays of flat objects, up to ~15,000 a file. Two parsers give the same
result:

* **fast**: Arrow's C++ JSON reader with an explicit schema of only the fields the study reads
  (:data:`prefcal.ingest.formats.STREAM_FIELDS`), so personal fields are never even materialised;
  used only on a file that is valid UTF-8 throughout (checked first, in C++, without a copy).
  The file is read as it is, wrapped as ``{"r": <the file>}`` so that the array becomes one
  ``list<struct>`` value; the records are that list's elements. Any deviation (a wrong type, a
  record that is not an object or is ``null``, invalid JSON, a missing required value) makes
  Arrow refuse or is detected, and the file goes to the checked parser.
* **checked**: stdlib :func:`json.loads` with a type check of every value of every row. It runs
  when the fast parser refuses the file (a wrong type, a row that is not an object, invalid JSON,
  an unusual layout) and turns each problem into a file-level :class:`IngestError` (naming the
  file, line and column) or a counted row skip (naming the row and field).
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from prefcal.ingest.errors import IngestError
from prefcal.ingest.formats import KNOWN_STREAM_KEYS, REQUIRED_FIELDS, STREAM_FIELDS
from prefcal.ingest.skips import SkipLog
from prefcal.tables import NEVER_KEEP_FIELDS

_FIRST_NON_WS = re.compile(rb"[^ \t\r\n]")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
Buffer = bytes | bytearray | np.ndarray  # a byte buffer (numpy: uint8, from read_wrapped)
_MAX_FAST_BYTES = 1 << 30  # larger files go to the checked parser (Arrow's block limit)
_PROBE = 1 << 16  # bytes decoded to inspect the first record's keys


@dataclass
class RawStreams:
    """Typed columns of one stream file before normalisation.

    ``table`` holds the format's fields (:data:`STREAM_FIELDS`) plus ``_row``, the 0-based
    position of the record in the file; rows whose values had the wrong JSON type are already
    removed and counted in ``skips``. ``n_read`` is the number of records in the file, ``keys``
    the field names seen (the fast parser looks at the first record), ``parser`` which parser
    produced the table (``fast`` or ``checked``), ``repaired`` the number of string values whose
    invalid characters were replaced.
    """

    table: pa.Table
    n_read: int
    skips: SkipLog = field(default_factory=SkipLog)
    keys: frozenset[str] = frozenset()
    parser: str = "fast"
    repaired: int = 0

    @property
    def personal_fields(self) -> list[str]:
        """Personal fields present in the file (never read into a column)."""
        return sorted(self.keys & set(NEVER_KEEP_FIELDS))

    def unexpected_fields(self, fmt: str) -> list[str]:
        """Fields present in the file that the format is not known to have (reported)."""
        return sorted(self.keys - KNOWN_STREAM_KEYS[fmt])


def _strip_bom(data: bytes) -> bytes:
    return data[3:] if data.startswith(b"\xef\xbb\xbf") else data


@functools.cache
def _wrapped_schema(fmt: str) -> pa.Schema:
    """Schema of ``{"r": [record, ...]}`` for the fields of ``fmt`` (built once per format)."""
    return pa.schema([("r", pa.list_(pa.struct(list(_schema(fmt)))))])


def _schema(fmt: str) -> pa.Schema:
    return pa.schema(list(STREAM_FIELDS[fmt].items()))


def _first_record_keys(data: Buffer, start: int) -> frozenset[str]:
    """Keys of the first object of the array that starts at ``data[start]`` (``[``)."""
    probe = bytes(memoryview(data)[start + 1 : start + 1 + _PROBE])
    text = probe.decode("utf-8", errors="ignore")
    brace = text.find("{")
    if brace < 0:
        return frozenset()
    try:
        obj, _ = json.JSONDecoder().raw_decode(text, brace)
    except ValueError:
        return frozenset()
    return frozenset(obj) if isinstance(obj, dict) else frozenset()


WRAP_PREFIX = b'{"r":'
WRAP_SUFFIX = b"}"


def _is_utf8(buf: Buffer) -> bool:
    """True when the whole buffer is valid UTF-8 (checked by Arrow in C++, without a copy).

    Arrow's JSON parser skips the keys it is not asked for without validating them, so invalid
    bytes in such a key (or in a value of an unread field) would otherwise pass unnoticed."""
    data = pa.py_buffer(buf)
    offsets = pa.py_buffer(np.array([0, data.size], dtype=np.int32))
    try:
        pa.Array.from_buffers(pa.string(), 1, [None, offsets, data]).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _fast(wrapped: Buffer, fmt: str) -> RawStreams | None:
    """Arrow's parser on ``WRAP_PREFIX + file + WRAP_SUFFIX``; None when it refuses (the checked
    parser then decides)."""
    start = len(WRAP_PREFIX)
    m = _FIRST_NON_WS.search(memoryview(wrapped), start)
    if m is None or wrapped[m.start()] != 0x5B or len(wrapped) > _MAX_FAST_BYTES:  # "["
        return None
    if not _is_utf8(wrapped):  # the checked parser names the offset of the bad byte
        return None
    try:
        doc = pj.read_json(
            pa.BufferReader(pa.py_buffer(wrapped)),
            read_options=pj.ReadOptions(block_size=len(wrapped) + 64, use_threads=False),
            parse_options=pj.ParseOptions(
                explicit_schema=_wrapped_schema(fmt),
                newlines_in_values=True,
                unexpected_field_behavior="ignore",
            ),
        )
        records = doc["r"]
        if doc.num_rows != 1 or records.null_count:
            return None
        if records.num_chunks == 1:  # the usual case: the list's values, without a copy
            structs = records.chunk(0).flatten()
        else:
            structs = pc.list_flatten(records).combine_chunks()
        if structs.null_count:  # a `null` record: the checked parser names it
            return None
        table = pa.Table.from_struct_array(structs)
        table.validate(full=True)  # e.g. invalid UTF-8 in a string value
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    if any(table[k].null_count for k in REQUIRED_FIELDS[fmt]):
        # a missing required value: the checked parser tells "absent" from "null"
        return None
    keys = _first_record_keys(wrapped, m.start())
    return RawStreams(_with_rows(table), table.num_rows, keys=keys)


def _with_rows(table: pa.Table) -> pa.Table:
    return table.append_column("_row", pa.array(np.arange(table.num_rows, dtype=np.int64)))


def load_json(data: bytes, where: str) -> Any:
    """:func:`json.loads` with a clear :class:`IngestError` naming the file, line and column."""
    data = _strip_bom(data)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IngestError(f"{where}: not UTF-8 text (invalid byte at offset {exc.start})") from exc
    if not text.strip():
        raise IngestError(f"{where}: the file is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        # the end of the text inside a string or before a closing bracket: a cut-off file
        if exc.msg.startswith("Unterminated string") or exc.pos >= len(text.rstrip()):
            last = text.count("\n") + 1
            # json's message may end in "at" ("Unterminated string starting at"): no second one
            at = "" if exc.msg.endswith(" at") else " at"
            raise IngestError(
                f"{where}: truncated JSON: the text ends at line {last} before the document "
                f"is complete ({exc.msg}{at} line {exc.lineno}, column {exc.colno})"
            ) from exc
        raise IngestError(
            f"{where}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from exc
    except RecursionError as exc:
        raise IngestError(f"{where}: JSON nested too deeply") from exc


def repair_text(v: str) -> str:
    """``v`` itself when it is valid Unicode, else a copy with each lone surrogate (a JSON
    escape such as ``\\ud800`` that encodes no character) replaced by U+FFFD."""
    if v.isascii():  # no surrogate: the usual case, checked without encoding
        return v
    try:
        v.encode("utf-8")
    except UnicodeEncodeError:
        return v.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return v


def _is_int(v: Any) -> bool:
    if type(v) is int:
        return _INT64_MIN <= v <= _INT64_MAX
    return type(v) is float and math.isfinite(v) and v.is_integer() and abs(v) < 2**63


_CHECKS = {
    pa.string(): lambda v: v is None or type(v) is str,
    pa.int64(): lambda v: v is None or _is_int(v),
    pa.bool_(): lambda v: v is None or type(v) is bool,
}


def _checked(data: bytes, fmt: str, where: str) -> RawStreams:
    """Stdlib parse with a type check of every value; bad rows are skipped and counted."""
    rows = load_json(data, where)
    if not isinstance(rows, list):
        raise IngestError(
            f"{where}: expected a JSON array of records, found a JSON {type(rows).__name__}"
        )
    n = len(rows)
    skips = SkipLog()
    is_obj = np.fromiter((type(r) is dict for r in rows), dtype=bool, count=n)
    skips.add("not_an_object", np.flatnonzero(~is_obj))
    objs = [r for r in rows if type(r) is dict]
    obj_rows = np.flatnonzero(is_obj)
    keys: set[str] = set().union(*objs) if objs else set()
    fields = STREAM_FIELDS[fmt]
    for req in REQUIRED_FIELDS[fmt]:
        if objs and req not in keys:
            raise IngestError(
                f"{where}: field '{req}' is absent from every record; is this really a "
                f"{fmt} file? (fields seen: {', '.join(sorted(keys)[:12])})"
            )
    ok = np.ones(len(objs), dtype=bool)
    columns: dict[str, list[Any]] = {}
    repaired = 0
    for name, typ in fields.items():
        col = [r.get(name) for r in objs]
        check = _CHECKS[typ]
        good = np.fromiter((check(v) for v in col), dtype=bool, count=len(col))
        skips.add(f"bad_type:{name}", obj_rows[~good & ok])
        ok &= good
        if typ == pa.string():
            for i, v in enumerate(col):
                if type(v) is str and not v.isascii():
                    fixed = repair_text(v)
                    if fixed is not v:
                        col[i] = fixed
                        repaired += 1
        columns[name] = col
    keep = np.flatnonzero(ok)
    arrays = {}
    for name, typ in fields.items():
        col = columns[name]
        vals = [col[i] for i in keep]
        if typ == pa.int64():
            vals = [None if v is None else int(v) for v in vals]
        arrays[name] = pa.array(vals, type=typ)
    arrays["_row"] = pa.array(obj_rows[keep].astype(np.int64))
    return RawStreams(
        pa.table(arrays), n, skips, frozenset(keys), parser="checked", repaired=repaired
    )


def read_stream_file(data: bytes, fmt: str, where: str) -> RawStreams:
    """Typed columns of a stream file of format ``fmt`` (see :class:`RawStreams`).

    Raises :class:`IngestError` for file-level problems: not UTF-8, not JSON, truncated JSON, not
    an array, or a required field absent from every record (the wrong kind of file).
    """
    return read_stream_wrapped(WRAP_PREFIX + data + WRAP_SUFFIX, fmt, where)


def read_stream_wrapped(wrapped: Buffer, fmt: str, where: str) -> RawStreams:
    """:func:`read_stream_file` of ``WRAP_PREFIX + data + WRAP_SUFFIX`` (a file read straight into
    such a buffer, see :meth:`prefcal.ingest.donations.DonationFile.read_wrapped`, is never
    copied on the fast path)."""
    fast = _fast(wrapped, fmt)
    if fast is not None:
        return fast
    data = bytes(memoryview(wrapped)[len(WRAP_PREFIX) : len(wrapped) - len(WRAP_SUFFIX)])
    return _checked(_strip_bom(data), fmt, where)
