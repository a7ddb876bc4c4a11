"""Walk a donation (a folder, or the zip Spotify sends) and list its files without opening them.

A donation may hold several exports of the same person (an unpacked folder next to the zip it came
from, the account-data zip next to the extended-history zip, two requests a year apart). Each file
is listed with its ``unit``: the folder that holds it inside the donation (a zip counts as a
folder). Files of one unit come from one export; deduplication uses the unit to tell overlapping
exports apart from genuinely repeated rows.
"""

from __future__ import annotations

import io
import os
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from prefcal.ingest.errors import IngestError

_MAX_ZIP_DEPTH = 3  # a zip inside a zip inside a donation zip, at most
# Largest file that is read at all. Spotify's export files are at most a few tens of MB (10,000 to
# 16,000 rows); a bigger one is refused by its size, before a byte is read, so a huge or
# corrupt file cannot exhaust memory. 1 GiB is also the largest file Arrow's parser takes whole.
MAX_FILE_BYTES = 1 << 30
# what a damaged, encrypted or exotic zip raises
_ZIP_ERRORS = (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError, zlib.error)


@dataclass(frozen=True)
class DonationFile:
    """One file of a donation.

    ``relpath`` is the path inside the donation (``/``-separated, a zip's members under the zip's
    name), ``unit`` its parent folder, ``where`` the full location for error messages, and
    ``read()`` returns its bytes.
    """

    relpath: str
    unit: str
    where: str
    read: Callable[[], bytes]
    path: Path | None = None  # set for files on disk
    size: int | None = None  # set for zip members: the size the zip declares

    def nbytes(self) -> int | None:
        """The file's size in bytes (a zip member: the uncompressed size the zip declares), None
        when it cannot be told. Nothing is read."""
        if self.path is None:
            return self.size
        try:
            return self.path.stat().st_size
        except OSError:
            return None

    def read_wrapped(self, prefix: bytes, suffix: bytes) -> bytes | np.ndarray:
        """``prefix + content + suffix`` as one buffer; a file on disk is read straight into an
        uninitialised numpy byte buffer (no zero-filling, no copy)."""
        if self.path is None:
            return prefix + self.read() + suffix
        try:
            with self.path.open("rb", buffering=0) as fh:
                size = os.fstat(fh.fileno()).st_size
                check_size(size, self.where)
                buf = np.empty(len(prefix) + size + len(suffix), dtype=np.uint8)
                buf[: len(prefix)] = np.frombuffer(prefix, dtype=np.uint8)
                view = memoryview(buf)[len(prefix) : len(prefix) + size]
                got = 0
                while got < size:
                    n = fh.readinto(view[got:])
                    if not n:
                        break
                    got += n
                view.release()
        except OSError as exc:
            raise IngestError(f"{self.where}: cannot be read ({exc.strerror or exc})") from exc
        if got < size:  # the file shrank while being read
            return prefix + self.read() + suffix
        buf[len(prefix) + size :] = np.frombuffer(suffix, dtype=np.uint8)
        return buf


def check_size(size: int, where: str) -> None:
    """Raise :class:`IngestError` when a file of ``size`` bytes is over :data:`MAX_FILE_BYTES`."""
    if size > MAX_FILE_BYTES:
        raise IngestError(
            f"{where}: the file is {size / 1e9:.2f} GB, more than the "
            f"{MAX_FILE_BYTES / 1e9:.2f} GB a file of a data export may have (Spotify's files "
            "are at most a few tens of MB); not read"
        )


def donation_name(path: str | Path) -> str:
    """The name a donation is known by: the folder name, or the zip's name without ``.zip``."""
    name = Path(path).name
    return name[:-4] if name.lower().endswith(".zip") else name


def _skip_name(name: str) -> bool:
    """Operating-system clutter that is not part of an export."""
    base = name.rstrip("/").rsplit("/", 1)[-1]
    return (
        base.startswith(".")
        or base.startswith("._")
        or base in {"Thumbs.db", "desktop.ini"}
        or "__MACOSX/" in name
    )


def _zip_files(
    opener: Callable[[], zipfile.ZipFile], prefix: str, where: str, depth: int
) -> Iterator[DonationFile]:
    try:
        zf = opener()
        infos = sorted(
            (i for i in zf.infolist() if not i.is_dir() and not _skip_name(i.filename)),
            key=lambda i: i.filename,
        )
    except _ZIP_ERRORS as exc:
        raise IngestError(f"{where}: not a readable zip file ({exc})") from exc
    for info in infos:
        rel = f"{prefix}/{info.filename}" if prefix else info.filename
        member_where = f"{where}::{info.filename}"
        if info.filename.lower().endswith(".zip") and depth < _MAX_ZIP_DEPTH:

            def inner(
                zf: zipfile.ZipFile = zf, info: zipfile.ZipInfo = info, w: str = member_where
            ) -> zipfile.ZipFile:
                check_size(info.file_size, w)
                return zipfile.ZipFile(io.BytesIO(zf.read(info)))

            yield from _zip_files(inner, rel, member_where, depth + 1)
            continue

        def read(zf: zipfile.ZipFile = zf, info: zipfile.ZipInfo = info, w: str = member_where):
            check_size(info.file_size, w)  # the size the zip declares: checked before reading
            try:
                return zf.read(info)
            except _ZIP_ERRORS as exc:
                raise IngestError(f"{w}: cannot be read from the zip ({exc})") from exc

        unit = rel.rsplit("/", 1)[0] if "/" in rel else prefix
        yield DonationFile(rel, unit, member_where, read, size=info.file_size)


def _read_path(path: Path) -> Callable[[], bytes]:
    def read() -> bytes:
        try:
            check_size(path.stat().st_size, str(path))
            return path.read_bytes()
        except OSError as exc:
            raise IngestError(f"{path}: cannot be read ({exc.strerror or exc})") from exc

    return read


def iter_donation_files(donation: str | Path) -> Iterator[DonationFile]:
    """Every file of a donation folder or zip, in a fixed (sorted) order, recursing into zips."""
    root = Path(donation)
    if not root.exists():
        raise IngestError(f"{root}: donation does not exist")
    if root.is_file():
        if not zipfile.is_zipfile(root):
            raise IngestError(f"{root}: a donation must be a folder or a .zip file")
        # the donation's own name stays out of the paths (they enter the report)
        yield from _zip_files(lambda: zipfile.ZipFile(root), "", str(root), 1)
        return

    def unreadable(exc: OSError) -> None:
        raise IngestError(f"{exc.filename}: cannot be listed ({exc.strerror or exc})") from exc

    for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable):
        dirnames[:] = sorted(d for d in dirnames if not _skip_name(d))
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir
        for fname in sorted(filenames):
            if _skip_name(fname):
                continue
            path = Path(dirpath) / fname
            rel = f"{rel_dir}/{fname}" if rel_dir else fname
            if fname.lower().endswith(".zip") and zipfile.is_zipfile(path):
                yield from _zip_files(lambda p=path: zipfile.ZipFile(p), rel, str(path), 1)
            else:
                yield DonationFile(rel, rel_dir, str(path), _read_path(path), path)


def list_donations(each_dir: str | Path) -> list[Path]:
    """The donations in ``each_dir``: every sub-folder and every ``.zip`` file, sorted by name."""
    root = Path(each_dir)
    if not root.is_dir():
        raise IngestError(f"{root}: --each expects a folder of donations")
    out = [
        p
        for p in sorted(root.iterdir())
        if not _skip_name(p.name) and (p.is_dir() or p.name.lower().endswith(".zip"))
    ]
    return out
