"""An append-only local store of JSON Lines files, without duplicates, that survives interruption.

Layout under the store directory (mode 0700; files 0600, they hold a participant's listening):

==============================  ============================================================
file                            one line per ... (key that makes a line unique)
==============================  ============================================================
``plays.jsonl``                 recently-played item (``played_at_ms``, ``track_key``)
``polls.jsonl``                 poll run (``polled_at``)
``state.json``                  not a table: the ``after`` cursor of recently-played
``snapshots/runs.jsonl``        (snapshot time, kind, scope): what a snapshot saw
                                (``snapshot_at``, ``kind``, ``scope``)
``snapshots/<kind>.jsonl``      item of a distinct snapshot content
                                (``scope``, ``content_hash``, ``position``)
==============================  ============================================================

Why JSON Lines rather than Parquet: appending a line is atomic enough to survive a kill (a torn
last line is cut off on the next open), files stay readable with any tool, and the volumes are
tiny (50 plays per poll). :func:`read_plays` returns a typed DataFrame for analysis.

Order of writes makes runs resumable: rows are appended and fsync'ed *before* the cursor moves,
so an interrupted poll re-fetches at most one page, and the key drops the repeats.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from prefcal.collect.auth import write_private_json
from prefcal.collect.contexts import classify_frame
from prefcal.collect.errors import CollectError
from prefcal.collect.redact import get_logger

log = get_logger(__name__)

STORE_DIR_ENV = "PREFCAL_STORE_DIR"

PLAYS_KEY = ("played_at_ms", "track_key")
POLLS_KEY = ("polled_at",)
RUNS_KEY = ("snapshot_at", "kind", "scope")
SNAPSHOT_ITEM_KEY = ("scope", "content_hash", "position")


def default_store_dir() -> Path:
    """``$PREFCAL_STORE_DIR`` or ``platformdirs.user_data_dir("prefcal")/api_store``."""
    override = os.environ.get(STORE_DIR_ENV)
    if override:
        return Path(override).expanduser()
    try:
        import platformdirs
    except ImportError:  # pragma: no cover - platformdirs is pinned in requirements.txt
        return Path.home() / ".local" / "share" / "prefcal" / "api_store"
    return Path(platformdirs.user_data_dir("prefcal")) / "api_store"


def _key_of(row: Mapping[str, Any], key: Sequence[str], path: Path) -> tuple:
    try:
        return tuple(json.dumps(row[k], sort_keys=True) for k in key)
    except KeyError as exc:
        raise CollectError(f"{path}: a row lacks the key field {exc.args[0]!r}") from None


class JsonlTable:
    """One JSON Lines file; :meth:`append` writes only rows whose key is new.

    On open, a last line without its newline (a write cut short) is truncated away, and every
    complete line must parse (the error names the file and line).
    """

    def __init__(self, path: Path, key: Sequence[str]) -> None:
        self.path = Path(path)
        self.key = tuple(key)
        self._keys: set[tuple] = set()
        self._rows = 0
        self._load()

    def _load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            cut = data.rfind(b"\n") + 1
            log.warning(
                "%s: dropping an incomplete last line (%d bytes)", self.path, len(data) - cut
            )
            with open(self.path, "r+b") as fh:
                fh.truncate(cut)
            data = data[:cut]
        for lineno, line in enumerate(data.decode("utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise CollectError(f"{self.path}, line {lineno}: not JSON ({exc})") from None
            self._keys.add(_key_of(row, self.key, self.path))
            self._rows += 1

    def __len__(self) -> int:
        return self._rows

    def __contains__(self, row: Mapping[str, Any]) -> bool:
        return _key_of(row, self.key, self.path) in self._keys

    def append(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Append the rows whose key is not stored yet (also deduplicating within ``rows``);
        return how many were written. The file is flushed and fsync'ed before returning."""
        lines = []
        for row in rows:
            k = _key_of(row, self.key, self.path)
            if k in self._keys:
                continue
            self._keys.add(k)
            lines.append(json.dumps(dict(row), sort_keys=True, ensure_ascii=False) + "\n")
        if not lines:
            return 0
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write("".join(lines))
            fh.flush()
            os.fsync(fh.fileno())
        self._rows += len(lines)
        return len(lines)

    def read(self) -> list[dict[str, Any]]:
        """Every stored row, in file order."""
        if not self.path.exists():
            return []
        with open(self.path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]


class CollectStore:
    """The store directory: tables, the poll cursor, and a lock against two concurrent runs."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._tables: dict[str, JsonlTable] = {}

    @property
    def state_path(self) -> Path:
        return self.root / "state.json"

    def table(self, name: str, key: Sequence[str]) -> JsonlTable:
        """The table ``<root>/<name>.jsonl`` (``name`` may contain a sub-folder)."""
        if name not in self._tables:
            self._tables[name] = JsonlTable(self.root / f"{name}.jsonl", key)
        return self._tables[name]

    @property
    def plays(self) -> JsonlTable:
        return self.table("plays", PLAYS_KEY)

    @property
    def polls(self) -> JsonlTable:
        return self.table("polls", POLLS_KEY)

    @property
    def snapshot_runs(self) -> JsonlTable:
        return self.table("snapshots/runs", RUNS_KEY)

    def snapshot_items(self, kind: str) -> JsonlTable:
        return self.table(f"snapshots/{kind}", SNAPSHOT_ITEM_KEY)

    def load_state(self) -> dict[str, Any]:
        """The saved state (``{}`` before the first run)."""
        try:
            return json.loads(self.state_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except ValueError as exc:
            raise CollectError(f"{self.state_path}: not JSON ({exc})") from None

    def save_state(self, state: Mapping[str, Any]) -> None:
        """Replace the state atomically (0600)."""
        write_private_json(self.state_path, state)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold ``<root>/.lock`` exclusively; a second collector on the same store fails fast."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no locking
            yield
            return
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise CollectError(
                    f"another collector is running on {self.root}; wait for it to finish"
                ) from None
            yield
        finally:
            os.close(fd)

    def playlist_owners(self) -> dict[str, str]:
        """Playlist id -> owner label (``spotify`` | ``self`` | ``other``) from the snapshots.

        Only ``spotify`` is a real owner id; other owners are stored as labels, never as names.
        """
        owners: dict[str, str] = {}
        for row in self.snapshot_items("playlists").read():
            owners[row["playlist_id"]] = row["owner"]
        return owners


PLAYS_COLUMNS = {
    "played_at": "datetime64[ms, UTC]",
    "track_id": "string",
    "track_uri": "string",
    "track_name": "string",
    "artist_names": "object",
    "album_name": "string",
    "duration_ms": "Int64",
    "context_type": "string",
    "context_uri": "string",
    "context_class": "string",
}


def read_plays(store: CollectStore | Path | str) -> pd.DataFrame:
    """All stored plays as a DataFrame sorted by ``played_at``, one row per play.

    Columns (:data:`PLAYS_COLUMNS`): ``played_at`` (UTC, ms), ``track_id``, ``track_uri``,
    ``track_name``, ``artist_names`` (list of str), ``album_name``, ``duration_ms``,
    ``context_type``, ``context_uri`` (user names scrubbed), ``context_class`` (re-derived with
    the playlist owners known *now*, so plays polled before a snapshot are classified as well as
    later ones).
    """
    store = store if isinstance(store, CollectStore) else CollectStore(store)
    rows = store.plays.read()
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in PLAYS_COLUMNS.items()})
    df = pd.DataFrame.from_records(rows)
    out = pd.DataFrame(
        {
            "played_at": pd.to_datetime(df["played_at_ms"], unit="ms", utc=True).astype(
                "datetime64[ms, UTC]"
            ),
            "track_id": df["track_id"].astype("string"),
            "track_uri": df["track_uri"].astype("string"),
            "track_name": df["track_name"].astype("string"),
            "artist_names": df["artist_names"],
            "album_name": df["album_name"].astype("string"),
            "duration_ms": df["duration_ms"].astype("Int64"),
            "context_type": df["context_type"].astype("string"),
            "context_uri": df["context_uri"].astype("string"),
        }
    )
    out["context_class"] = classify_frame(
        df["context_type"], df["context_uri"], store.playlist_owners()
    ).astype("string")
    return out.sort_values(["played_at", "track_uri"], kind="stable").reset_index(drop=True)
