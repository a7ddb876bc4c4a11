"""Benchmark: the full ingest vs a plain ``pandas.read_json`` of the same export files.

Generates (deterministically, seeded numpy Generator, no simulator needed) at least 1,000,000
extended-history rows in a temp dir: donations of several participants, each a mix of old
(``endsong_N.json``, offline_timestamp in ms, username/user agent) and new
(``Streaming_History_Audio_YYYY_N.json``, offline_timestamp in s, audiobook fields) files of 15,000
rows, pretty-printed like Spotify's, with music, podcasts, audiobooks, local files (null URI),
free-text platforms and unsorted rows. Then times

* baseline: ``pandas.read_json(path)`` of every file (no normalisation at all), and
* ingest: :func:`prefcal.ingest.ingest` of the donations (parse, normalise, deduplicate, sort,
  write three Parquet files and the report), with 1 thread (the default) and with 2 threads,

and prints the times, rows/second and the ratios baseline / ingest (the bar: >= 2).

Usage: ``PYTHONPATH=src python bench/ingest.py [--rows N] [--keep DIR]``
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from prefcal.ingest import ingest

THREADS = 2  # the second variant: stream files parsed two at a time (prefcal ingest --threads 2)

ROWS_PER_FILE = 15_000
FILES_PER_DONOR = 6
BAR = 2.0

OLD_PLATFORMS = [
    "iOS 14.7.1 (iPhone10,3)",
    "Android OS 9 API 28 (samsung, SM-G960F)",
    "Windows 10 (10.0.18362; x64; AppX)",
    "OS X 10.14.6 [x86 8]",
    "web_player windows 10;chrome 76.0.3809.132;desktop",
    "Partner google cast_tv;Chromecast;;",
    "Partner sonos_arm Sonos;Play:1;;",
]
NEW_PLATFORMS = ["ios", "android", "windows", "osx", "linux", "web_player", "not_applicable"]
REASONS_START = ["trackdone", "clickrow", "fwdbtn", "backbtn", "playbtn", "appload", "remote", ""]
REASONS_END = ["trackdone", "endplay", "fwdbtn", "backbtn", "logout", "unexpected-exit", ""]


def _pretty(row: dict) -> str:
    """One record as Spotify prints it (2-space indent), using the C encoder."""
    body = json.dumps(row, ensure_ascii=False, separators=(",\n    ", ": "))
    return "  {\n    " + body[1:-1] + "\n  }"


def _rows(rng: np.random.Generator, n: int, new: bool, start: int) -> list[dict]:
    ts = start + rng.integers(0, 3 * 365 * 86400, n)  # seconds, unsorted
    ms = np.minimum(rng.exponential(120_000, n).astype(np.int64), 3_600_000)
    kind = rng.choice(3, n, p=[0.88, 0.1, 0.02] if new else [0.9, 0.1, 0.0])
    track = rng.integers(0, 50_000, n)
    local = rng.random(n) < 0.01
    plat = rng.integers(0, len(NEW_PLATFORMS if new else OLD_PLATFORMS), n)
    rs = rng.integers(0, len(REASONS_START), n)
    re_ = rng.integers(0, len(REASONS_END), n)
    flags = rng.random((n, 3)) < np.array([0.6, 0.3, 0.05])
    offline_lag = rng.integers(0, 5000, n)
    times = pd.to_datetime(ts, unit="s").strftime("%Y-%m-%dT%H:%M:%SZ").tolist()
    out = []
    for i in range(n):
        k = kind[i]
        t = int(track[i])
        music, podcast, book = k == 0, k == 1, k == 2
        start_s = int(ts[i]) - int(ms[i]) // 1000 - int(offline_lag[i])
        row = {"ts": times[i]}
        if not new:
            row["username"] = "someone"
        row |= {
            "platform": (NEW_PLATFORMS if new else OLD_PLATFORMS)[plat[i]],
            "ms_played": int(ms[i]),
            "conn_country": "SE",
        }
        row["ip_addr" if new else "ip_addr_decrypted"] = "192.0.2.1"
        if not new:
            row["user_agent_decrypted"] = "unknown"
        row |= {
            "master_metadata_track_name": f"Track {t}" if music else None,
            "master_metadata_album_artist_name": f"Artist {t // 10}" if music else None,
            "master_metadata_album_album_name": f"Album {t // 5}" if music else None,
            "spotify_track_uri": f"spotify:track:{t:022d}" if music and not local[i] else None,
            "episode_name": f"Episode {t}" if podcast else None,
            "episode_show_name": f"Show {t // 40}" if podcast else None,
            "spotify_episode_uri": f"spotify:episode:{t:022d}" if podcast else None,
        }
        if new:
            row |= {
                "audiobook_title": f"Book {t // 12}" if book else None,
                "audiobook_uri": f"spotify:show:{t // 12:022d}" if book else None,
                "audiobook_chapter_uri": f"spotify:episode:b{t:021d}" if book else None,
                "audiobook_chapter_title": f"Chapter {t % 12}" if book else None,
            }
        row |= {
            "reason_start": REASONS_START[rs[i]],
            "reason_end": REASONS_END[re_[i]],
            "shuffle": bool(flags[i, 0]),
            "skipped": bool(flags[i, 1]) if new else None,
            "offline": bool(flags[i, 2]),
            "offline_timestamp": start_s if new else start_s * 1000 + int(ms[i]) % 1000,
            "incognito_mode": False,
        }
        out.append(row)
    return out


def generate(root: Path, n_rows: int, seed: int = 20261122) -> tuple[list[Path], list[Path]]:
    """Write donations with at least ``n_rows`` rows under ``root``; return (donations, files)."""
    rng = np.random.default_rng(seed)
    n_files = -(-n_rows // ROWS_PER_FILE)
    donations, files = [], []
    start = 1_500_000_000
    for f in range(n_files):
        donor = root / f"donor_{f // FILES_PER_DONOR:03d}"
        if donor not in donations:
            donations.append(donor)
        j = f % FILES_PER_DONOR
        new = j % 2 == 1
        name = f"Streaming_History_Audio_{2019 + j}_{j}.json" if new else f"endsong_{j}.json"
        sub = "Spotify Extended Streaming History" if new else "MyData"
        path = donor / sub / name
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = _rows(rng, ROWS_PER_FILE, new, start)
        path.write_text("[\n" + ",\n".join(map(_pretty, rows)) + "\n]", encoding="utf-8")
        files.append(path)
    return donations, files


def time_pandas(files: list[Path]) -> tuple[float, float, int]:
    """(wall s, CPU s) to ``pandas.read_json`` every file, and the rows read."""
    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    n = 0
    for f in files:
        n += len(pd.read_json(f))
    return time.perf_counter() - t0, time.process_time() - c0, n


def time_ingest(donations: list[Path], out: Path, threads: int) -> tuple[float, float, dict]:
    """(wall s, CPU s) of the full ingest, and its stream totals (from the report)."""
    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    result = ingest(donations, out, id_seed=1, threads=threads)
    return time.perf_counter() - t0, time.process_time() - c0, result.report["totals"]["streams"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="at least this many rows")
    ap.add_argument("--keep", type=Path, default=None, help="generate into DIR and keep it")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved runs; best is kept")
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="prefcal_bench_ingest_"))
    try:
        t0 = time.perf_counter()
        donations, files = generate(root / "donations", args.rows)
        size = sum(f.stat().st_size for f in files)
        print(
            f"generated {len(files)} files in {len(donations)} donations, "
            f"{size / 1e6:.0f} MB, in {time.perf_counter() - t0:.1f} s"
        )
        # interleaved repeats, best of each: the machine is shared, so load comes and goes
        runs: dict[str, list[tuple[float, float]]] = {"pandas": [], "1": [], "n": []}
        for _ in range(args.repeats):
            t, c, n_pd = time_pandas(files)
            runs["pandas"].append((t, c))
            t, c, tot1 = time_ingest(donations, root / "out1", threads=1)
            runs["1"].append((t, c))
            t, c, tot = time_ingest(donations, root / "out", threads=THREADS)
            runs["n"].append((t, c))
        assert n_pd == tot1["rows_read"] == tot["rows_read"], (n_pd, tot1, tot)
        same = all(
            (root / "out1" / f).read_bytes() == (root / "out" / f).read_bytes()
            for f in ("streams.parquet", "playlists.parquet", "library.parquet")
        )
        n = tot["rows_read"]
        print(
            f"rows: {n:,} read, {tot['rows_kept']:,} kept by the ingest; "
            f"1-thread and {THREADS}-thread outputs identical: {same}; "
            f"best of {args.repeats} interleaved runs"
        )
        best = {k: (min(t for t, _ in v), min(c for _, c in v)) for k, v in runs.items()}
        labels = {
            "pandas": "pandas.read_json",
            "1": "prefcal ingest, 1 thread",
            "n": f"prefcal ingest, {THREADS} threads",
        }
        for k, (t, c) in best.items():
            print(f"{labels[k]:28s}: {t:7.2f} s wall ({c:6.2f} s CPU)  {n / t:12,.0f} rows/s")
        for k in ("1", "n"):
            ratio = best["pandas"][0] / best[k][0]
            verdict = "PASS" if ratio >= BAR else "FAIL"
            print(
                f"ratio pandas / {labels[k]}: {ratio:.2f}x wall "
                f"(bar >= {BAR:.1f}x: {verdict}), {best['pandas'][1] / best[k][1]:.2f}x CPU"
            )
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
