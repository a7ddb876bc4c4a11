"""Benchmark: peak memory of the ingest on a donation of 10 files x 500 MB (the bar: < 3 GB).

The ingest reads one stream file at a time (read, parse, normalise, drop the raw columns), so
its peak memory should be set by one file plus the normalised rows it keeps, not by the size of
the donation. This script

1. writes one donation of ``--files`` extended-history files (``endsong_N.json``) of ``--mb`` MB
   each, quickly: a block of ~4 MB of realistic rows (seeded numpy Generator: music, podcasts,
   local files, free-text platforms, personal fields) is rendered to JSON text once, then
   repeated with a comma between blocks inside one JSON array until the file has its size; each
   repeat puts fresh random timestamps (2009-2024, unsorted) into the text, so the rows of the
   donation are distinct plays and the deduplication has almost nothing to remove
   (``--repeat-bytes`` repeats the block byte for byte instead: then almost every row is an
   exact duplicate, which the deduplication removes);
2. measures, each in a fresh child process, the peak resident memory
   (``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` read by its parent) of
   * **ingest**: :func:`prefcal.ingest.ingest` of the donation (every file, written to Parquet);
   * **baseline**: ``json.load`` of ONE of the files (the naive way to read a single file);
3. prints both peaks, the ratio ingest / baseline, the verdict against the 3 GB bar, and
   deletes the files.

Usage: ``PYTHONPATH=src python bench/ingest_memory.py [--files 10] [--mb 500] [--dir /tmp]``.
Needs ``files x mb`` MB of free disk (checked first) and a few GB of memory.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

BAR_BYTES = 3 * 10**9  # 3 GB (decimal: the stricter reading of the bar)
BLOCK_ROWS = 12_000  # ~4 MB of pretty-printed endsong rows
PLATFORMS = [
    "iOS 14.7.1 (iPhone10,3)",
    "Android OS 9 API 28 (samsung, SM-G960F)",
    "Windows 10 (10.0.18362; x64; AppX)",
    "OS X 10.14.6 [x86 8]",
    "Partner google cast_tv;Chromecast;;",
]
REASONS = ["trackdone", "clickrow", "fwdbtn", "backbtn", "playbtn", "appload", ""]


def _pretty(row: dict) -> str:
    body = json.dumps(row, ensure_ascii=False, separators=(",\n    ", ": "))
    return "  {\n    " + body[1:-1] + "\n  }"


TS_MARK = "@@TS@@"  # placeholder of ``ts`` in the block template
TS_LO, TS_HI = 1_230_768_000, 1_735_689_600  # 2009-01-01 .. 2025-01-01


def block_template(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` pretty-printed endsong rows joined as one text, split at the ``ts`` values: the
    pieces between which each repeat of the block puts its own timestamps."""
    ms = np.minimum(rng.exponential(120_000, n).astype(np.int64), 3_600_000)
    kind = rng.choice(2, n, p=[0.9, 0.1])
    track = rng.integers(0, 200_000, n)
    local = rng.random(n) < 0.01
    plat = rng.integers(0, len(PLATFORMS), n)
    rs, re_ = rng.integers(0, len(REASONS), n), rng.integers(0, len(REASONS), n)
    flags = rng.random((n, 2)) < np.array([0.5, 0.05])
    off = rng.integers(TS_LO, TS_HI, n) * 1000
    rows = []
    for i in range(n):
        t, music = int(track[i]), kind[i] == 0
        rows.append(
            {
                "ts": TS_MARK,
                "username": "bench-user",
                "platform": PLATFORMS[plat[i]],
                "ms_played": int(ms[i]),
                "conn_country": "SE",
                "ip_addr_decrypted": "192.0.2.1",
                "user_agent_decrypted": "unknown",
                "master_metadata_track_name": f"Track {t}" if music else None,
                "master_metadata_album_artist_name": f"Artist {t // 10}" if music else None,
                "master_metadata_album_album_name": f"Album {t // 5}" if music else None,
                "spotify_track_uri": f"spotify:track:{t:022d}" if music and not local[i] else None,
                "episode_name": None if music else f"Episode {t}",
                "episode_show_name": None if music else f"Show {t // 40}",
                "spotify_episode_uri": None if music else f"spotify:episode:{t:022d}",
                "reason_start": REASONS[rs[i]],
                "reason_end": REASONS[re_[i]],
                "shuffle": bool(flags[i, 0]),
                "skipped": None,
                "offline": bool(flags[i, 1]),
                "offline_timestamp": int(off[i]),
                "incognito_mode": False,
            }
        )
    return ",\n".join(_pretty(r) for r in rows).split(TS_MARK)


def block_text(pieces: list[str], rng: np.random.Generator | None, fixed: list[str]) -> str:
    """One repeat of the block: fresh random timestamps (2009-2024) from ``rng``, or the
    ``fixed`` ones when ``rng`` is None (byte-for-byte repeats)."""
    if rng is None:
        ts = fixed
    else:
        secs = rng.integers(TS_LO, TS_HI, len(pieces) - 1)
        ts = pd.to_datetime(secs, unit="s").strftime("%Y-%m-%dT%H:%M:%SZ").tolist()
    out = [pieces[0]]
    for t, piece in zip(ts, pieces[1:], strict=True):
        out.append(t)
        out.append(piece)
    return "".join(out)


def generate(root: Path, n_files: int, mb: int, repeat_bytes: bool, seed: int = 20261122) -> list:
    """Write ``n_files`` files of about ``mb`` MB into ``root/donor/MyData``; return them."""
    rng = np.random.default_rng(seed)
    folder = root / "donor" / "MyData"
    folder.mkdir(parents=True)
    pieces = block_template(rng, BLOCK_ROWS)
    fixed = block_text(pieces, rng, []).split('"ts": "')[1:]
    fixed = [f[:20] for f in fixed]
    first = block_text(pieces, None, fixed)
    n_rep = max(1, round(mb * 1e6 / (len(first.encode()) + 2)))
    files = []
    for f in range(n_files):
        path = folder / f"endsong_{f}.json"
        with path.open("w", encoding="utf-8") as fh:
            fh.write("[\n")
            for k in range(n_rep):
                if k:
                    fh.write(",\n")
                fh.write(first if repeat_bytes else block_text(pieces, rng, fixed))
            fh.write("\n]\n")
        files.append(path)
    return files


_CHILD = """
import json, sys, resource
from pathlib import Path
mode, target, out = sys.argv[1], sys.argv[2], sys.argv[3]
if mode == "json_load":
    with open(target, "rb") as fh:
        rows = json.load(fh)
    print(len(rows))
else:
    from prefcal.ingest import ingest
    r = ingest([Path(target)], out, id_seed=1)
    t = r.report["totals"]["streams"]
    print(t["rows_read"], t["rows_kept"], t["duplicates_removed"])
"""


_MEASURE = """
import json, resource, subprocess, sys
proc = subprocess.run([sys.executable, "-c", sys.argv[1], *sys.argv[2:]],
                      capture_output=True, text=True, check=True)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # kB on Linux
print(json.dumps({"maxrss_kb": peak, "stdout": proc.stdout.strip()}))
"""


def peak_rss(mode: str, target: Path, out: Path) -> tuple[int, float, str]:
    """(peak RSS in bytes, wall seconds, stdout) of one measurement.

    The work runs in a child of a fresh helper process, which reads
    ``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` after it: the largest resident set of its
    only child, so measurements do not hide each other (in one process, RUSAGE_CHILDREN keeps
    the maximum over every child ever waited for)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, _CHILD, mode, str(target), str(out)],
        capture_output=True,
        text=True,
        check=True,
    )
    res = json.loads(proc.stdout)
    return int(res["maxrss_kb"]) * 1024, time.perf_counter() - t0, res["stdout"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=10)
    ap.add_argument("--mb", type=int, default=500, help="size of each file in MB")
    ap.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    ap.add_argument("--repeat-bytes", action="store_true", help="repeat each block unchanged")
    args = ap.parse_args()
    need = args.files * args.mb * 1e6 * 1.1 + 2e9
    free = shutil.disk_usage(args.dir).free
    if free < need:
        sys.exit(f"bench: {args.dir} has {free / 1e9:.1f} GB free, {need / 1e9:.1f} GB needed")
    root = Path(tempfile.mkdtemp(prefix="prefcal_bench_memory_", dir=args.dir))
    try:
        t0 = time.perf_counter()
        files = generate(root, args.files, args.mb, args.repeat_bytes)
        size = sum(f.stat().st_size for f in files)
        print(
            f"generated {len(files)} files, {size / 1e9:.2f} GB in {root} "
            f"in {time.perf_counter() - t0:.0f} s"
            + (" (blocks repeated byte for byte)" if args.repeat_bytes else " (distinct plays)")
        )
        base, t_base, n_base = peak_rss("json_load", files[0], root / "unused")
        print(
            f"baseline: json.load of ONE file ({files[0].stat().st_size / 1e6:.0f} MB, "
            f"{int(n_base):,} rows): peak RSS {base / 1024**3:.2f} GiB ({base / 1e9:.2f} GB), "
            f"{t_base:.0f} s"
        )
        ing, t_ing, counts = peak_rss("ingest", root / "donor", root / "out")
        read, kept, dups = (int(x) for x in counts.split())
        print(
            f"ingest of all {len(files)} files ({size / 1e9:.2f} GB, {read:,} rows read, "
            f"{kept:,} kept, {dups:,} duplicates): peak RSS {ing / 1024**3:.2f} GiB "
            f"({ing / 1e9:.2f} GB), {t_ing:.0f} s"
        )
        verdict = "PASS" if ing < BAR_BYTES else "FAIL"
        print(
            f"ratio ingest (all {len(files)} files) / json.load (one file): {ing / base:.2f}; "
            f"bar: ingest peak < 3 GB: {verdict}"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)
        print(f"removed {root}")


if __name__ == "__main__":
    main()
