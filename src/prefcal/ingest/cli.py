"""``prefcal ingest``: donations (folders or the zips Spotify sends) -> canonical Parquet tables.

Examples::

    prefcal ingest alice.zip bob/ --out data/ --id-map ~/private/ids.csv
    prefcal ingest --each results/raw/shard_003 --out results/data/shard_003 --id-seed 20261122
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from prefcal.ingest.donations import list_donations
from prefcal.ingest.errors import IngestError
from prefcal.ingest.pipeline import DEFAULT_THREADS, ingest, removed_rows


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``ingest`` sub-command to the ``prefcal`` parser."""
    p = subparsers.add_parser(
        "ingest",
        help="read Spotify data exports into the study's Parquet tables",
        description=(
            "Read donations (one folder or zip per participant: account data, extended "
            "streaming history, playlists, library) into streams.parquet, playlists.parquet, "
            "library.parquet and ingest_report.json. Personal fields and files are never kept; "
            "participants get study ids."
        ),
    )
    p.add_argument("donations", nargs="*", metavar="DONATION", help="a donation folder or zip")
    p.add_argument(
        "--each",
        metavar="DIR",
        action="append",
        default=[],
        help="every sub-folder or .zip of DIR is one participant's donation (repeatable)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument(
        "--id-seed",
        type=int,
        default=None,
        metavar="S",
        help="derive study ids from (S, donation name): reproducible; default: random ids",
    )
    p.add_argument(
        "--id-map",
        metavar="FILE",
        default=None,
        help="write participant_id <-> donation name to FILE (CSV; keep it private)",
    )
    p.add_argument(
        "--skip-bad-files",
        action="store_true",
        help="record unreadable files in the report and go on, instead of stopping",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=DEFAULT_THREADS,
        metavar="N",
        help=f"stream files parsed at a time (default {DEFAULT_THREADS}; output is the same)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the ingest for parsed arguments; prints a short summary (study ids only)."""
    donations = [Path(d) for d in args.donations]
    for each in args.each:
        donations.extend(list_donations(each))
    if not donations and not args.each:
        raise IngestError("give at least one DONATION or --each DIR")
    result = ingest(
        donations,
        args.out,
        id_seed=args.id_seed,
        id_map=args.id_map,
        skip_bad_files=args.skip_bad_files,
        threads=max(1, args.threads),
    )
    t = result.report["totals"]
    s = t["streams"]
    dups = removed_rows(result.report)
    print(
        f"prefcal ingest: {t['participants']} participants, "
        f"streams: {s['rows_read']} rows read, {s['rows_kept']} kept, "
        f"{s['rows_skipped']} skipped, {s['duplicates_removed']} duplicates removed "
        f"({', '.join(f'{k} {v}' for k, v in sorted(dups.items())) or 'none'}); "
        f"playlist items kept: {t['playlists']['rows_kept']}, "
        f"library items kept: {t['library']['rows_kept']}; files: {t['files']}",
        file=sys.stdout,
    )
    errors = t["files"].get("error", 0)
    if errors:
        print(
            f"prefcal ingest: {errors} file(s) could not be read, see the report", file=sys.stderr
        )
    print(f"prefcal ingest: wrote {args.out}", file=sys.stdout)
    return 0
