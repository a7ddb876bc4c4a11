"""Fast, byte-stable JSON text for Spotify-style export files.

Spotify writes its exports as a JSON array of flat objects with a two-space indent. Python's
``json.dumps(rows, indent=2)`` produces the same text but runs its pure-Python encoder once per
value; here every column is encoded once (catalogue strings are pre-encoded, numbers are formatted
by numpy) and each row is a single ``%`` formatting of a fixed template, which is ~10 times
faster and gives exactly the same bytes (:func:`json_records` equals
``json.dumps(rows, indent=2, ensure_ascii=False)``; a test checks it).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

NULL = "null"
TRUE = "true"
FALSE = "false"


def json_token(value: Any) -> str:
    """One value as JSON text, non-ASCII kept (as in Spotify's files)."""
    return json.dumps(value, ensure_ascii=False)


def tokens_for(values: Sequence[Any] | np.ndarray) -> np.ndarray:
    """JSON text of each element, encoding each distinct value once (object array)."""
    arr = np.asarray(values, dtype=object)
    if arr.size == 0:
        return arr
    codes, uniques = pd.factorize(arr, use_na_sentinel=True)  # None -> code -1
    enc = np.asarray([json_token(v) for v in np.asarray(uniques, dtype=object).tolist()] + [NULL])
    return enc.astype(object)[codes]


def bool_tokens(values: np.ndarray) -> np.ndarray:
    """``true`` / ``false`` for a boolean array."""
    return np.where(np.asarray(values, dtype=bool), TRUE, FALSE).astype(object)


def _pieces(keys: Sequence[str], columns: Sequence[Sequence[Any]], level: int) -> np.ndarray:
    """The text of each row's object as an (n, 2 k + 1) object array: the opening brace with the
    first key, then value, separator with the next key, ..., value, closing brace. Joining a row's
    pieces gives the ``json.dumps(indent=2)`` text of that object at ``level``."""
    if len(keys) != len(columns):
        raise ValueError(f"{len(keys)} keys but {len(columns)} columns")
    n = len(columns[0]) if len(columns) else 0
    if any(len(c) != n for c in columns):
        raise ValueError("columns differ in length")
    ind = "  " * (level + 1)
    out = np.empty((n, 2 * len(keys) + 1), dtype=object)
    for j, key in enumerate(keys):
        out[:, 2 * j] = ("{\n" if j == 0 else ",\n") + ind + json.dumps(key) + ": "
        out[:, 2 * j + 1] = _texts(columns[j])
    out[:, -1] = "\n" + "  " * level + "}"
    return out


def _texts(column: Sequence[Any]) -> Sequence[Any]:
    """A column ready to be joined: numbers as their text (``str``), JSON texts as they are."""
    if isinstance(column, np.ndarray) and column.dtype != object:
        return list(map(str, column.tolist()))
    return column


def _join(parts: list[Any]) -> str:
    """``"".join`` of texts that may hold a few numbers (written with ``str``, as ``%s`` does)."""
    try:
        return "".join(parts)
    except TypeError:
        return "".join(map(str, parts))


def json_objects(
    keys: Sequence[str], columns: Sequence[Sequence[Any]], level: int = 0
) -> list[str]:
    """The JSON text of each row as an object nested at ``level`` (``json.dumps(indent=2)`` layout:
    fields indented by ``2 (level + 1)`` spaces, the closing brace by ``2 level``).

    ``columns[j][i]`` is the JSON text of field j of row i (a str, possibly a nested object's text
    made at ``level + 1``) or a number.
    """
    rows = _pieces(keys, columns, level).tolist()
    try:
        return list(map("".join, rows))
    except TypeError:  # a column of numbers given as a list or an object array
        return [_join(row) for row in rows]


def json_array(elements: Sequence[str], level: int = 0) -> str:
    """The JSON text of an array at nesting ``level`` whose elements' texts (made at ``level + 1``)
    are given; ``[]`` when empty, as ``json.dumps(indent=2)`` writes it."""
    if len(elements) == 0:
        return "[]"
    ind = "  " * (level + 1)
    return "[\n" + ind + (",\n" + ind).join(elements) + "\n" + "  " * level + "]"


def json_records(keys: Sequence[str], columns: Sequence[Sequence[Any]], level: int = 0) -> str:
    """A JSON array of flat objects with ``keys`` in order (see :func:`json_objects` for columns).

    At ``level`` 0 it equals ``json.dumps(rows, indent=2, ensure_ascii=False)``. The text is one
    join of the pieces of all rows, each row's closing brace carrying the separator to the next.
    """
    pieces = _pieces(keys, columns, level + 1)
    if pieces.shape[0] == 0:
        return "[]"
    ind = "  " * (level + 1)
    pieces[:-1, -1] = "\n" + ind + "},\n" + ind
    pieces[-1, -1] = "\n" + ind + "}\n" + "  " * level + "]"
    return "[\n" + ind + _join(pieces.ravel().tolist())


def write_text(path: Path, text: str) -> int:
    """Write UTF-8 text with ``\\n`` line ends; return the number of bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8")
    path.write_bytes(data)
    return len(data)


def write_json(path: Path, obj: Any) -> int:
    """``json.dumps(obj, indent=2, ensure_ascii=False)`` to ``path`` (small nested files)."""
    return write_text(path, json.dumps(obj, indent=2, ensure_ascii=False))


class ExportSink:
    """Where one user's export files go: a folder (``container="folder"``), or one zip archive
    ``<folder>.zip`` holding the same relative paths (``container="zip"``), the form in which
    Spotify delivers an export (``my_spotify_data.zip``).

    Zip members are deflated at level :data:`ZIP_LEVEL` and stamped with one fixed time
    (:data:`ZIP_TIME`), so the archive's bytes depend on the content only.
    """

    def __init__(self, user_dir: Path, container: str = "folder") -> None:
        if container not in CONTAINERS:
            raise ValueError(
                f"simulation.export_container must be one of {CONTAINERS}, got {container!r}"
            )
        self.container = container
        self.path = user_dir.with_name(user_dir.name + ".zip") if container == "zip" else user_dir
        self._zip: zipfile.ZipFile | None = None
        if container == "zip":
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._zip = zipfile.ZipFile(self.path, "w")

    def write(self, rel: str, text: str) -> int:
        """Write ``text`` (UTF-8) as ``rel``; return its size in bytes before compression."""
        if self._zip is None:
            return write_text(self.path / rel, text)
        data = text.encode("utf-8")
        info = zipfile.ZipInfo(rel, date_time=ZIP_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        self._zip.writestr(info, data, compresslevel=ZIP_LEVEL)
        return len(data)

    def close(self) -> None:
        """Finish the archive (a no-op for a folder)."""
        if self._zip is not None:
            self._zip.close()
            self._zip = None


#: ``simulation.export_container`` values
CONTAINERS = ("folder", "zip")
#: deflate level of simulated zip exports: the fastest level (about 1/8 of the JSON's size)
ZIP_LEVEL = 1
#: the time stamp of every zip member (fixed, so that equal content gives equal bytes)
ZIP_TIME = (2026, 1, 1, 0, 0, 0)
