"""``prefcal donation``: check an export, add it to a donations folder, list it, build shards.

Examples::

    prefcal donation check my_spotify_data.zip            # what is in it; writes nothing
    prefcal donation check my_spotify_data.zip --json
    prefcal donation add my_spotify_data.zip --donations ~/study/donations --participant C-017
    prefcal donation list --donations ~/study/donations
    prefcal donation shard --donations DIR --shard 0 --n-shards 4 --out results/data/shard_000

Exit status: 0 done (``check``: the export is usable); 1 ``check``: nothing usable in the export;
2 bad input (the message names the file, row or field), printed as one line (``check``: also an
export with a file that cannot be read, which ``add`` refuses; the summary is printed too).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from prefcal.ingest.errors import IngestError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``donation`` and its sub-commands to the ``prefcal`` parser."""
    p = subparsers.add_parser(
        "donation",
        help="check Spotify data exports and add them to a donations folder",
        description=(
            "Data donations: check what an export holds, add it (scrubbed, under a random "
            "study id) to a donations folder that the workflow reads with "
            "data.source: donations."
        ),
    )
    sub = p.add_subparsers(dest="donation_command", required=True)

    c = sub.add_parser(
        "check",
        help="what one export holds and what the study would keep (writes nothing)",
        description=(
            "Read one export (folder or the zip Spotify sends) in memory: files and their "
            "generation, date span, rows, content types, rows that would be dropped and why, "
            "personal fields and files that are removed. Writes nothing. Exit status 1 when "
            "nothing usable was found, 2 when a file cannot be read (add refuses such an export)."
        ),
    )
    c.add_argument("path", metavar="PATH", help="an export folder or zip")
    c.add_argument("--json", action="store_true", help="print the summary as JSON")
    c.set_defaults(func=run_check)

    a = sub.add_parser(
        "add",
        help="scrub one export and add it to a donations folder",
        description=(
            "Scrub one export (personal fields and files are never read) and add its canonical "
            "tables to the donations folder under a random study id. The same --participant "
            "label (or --study-id) adds to the same person; without one, the same export "
            "added twice is recognised by its content fingerprint, and an export whose plays "
            "overlap a stored participant's is refused until you say who it is. The mapping "
            "study id <-> label/export is kept in DIR/private/id_map.csv (0600), which the "
            "workflow never reads."
        ),
    )
    a.add_argument("path", metavar="PATH", help="an export folder or zip")
    a.add_argument("--donations", required=True, metavar="DIR", help="the donations folder")
    who = a.add_mutually_exclusive_group()
    who.add_argument(
        "--participant",
        metavar="LABEL",
        default=None,
        help="your label for this person (e.g. consent-form number); same label, same study id",
    )
    who.add_argument(
        "--study-id", metavar="ID", default=None, help="add to this existing participant"
    )
    a.add_argument(
        "--new-participant",
        action="store_true",
        help="add as a new person even if the plays overlap a stored participant's",
    )
    a.add_argument(
        "--skip-bad-files",
        action="store_true",
        help="record unreadable files in the report and go on, instead of stopping",
    )
    a.add_argument("--json", action="store_true", help="print the result as JSON")
    a.set_defaults(func=run_add)

    ls = sub.add_parser("list", help="participants of a donations folder (study ids and rows)")
    ls.add_argument("--donations", required=True, metavar="DIR")
    ls.set_defaults(func=run_list)

    s = sub.add_parser(
        "shard",
        help="(workflow) one shard of a donations folder as canonical tables",
        description=(
            "Write streams/playlists/library.parquet and ingest_report.json of the participants "
            "in shard S of N (study id modulo N) to OUT. Reads only manifest.json and "
            "participants/."
        ),
    )
    s.add_argument("--donations", required=True, metavar="DIR")
    s.add_argument("--shard", required=True, type=int, metavar="S")
    s.add_argument("--n-shards", required=True, type=int, metavar="N")
    s.add_argument("--out", required=True, metavar="DIR")
    s.set_defaults(func=run_shard)


def run_check(args: argparse.Namespace) -> int:
    """``prefcal donation check``."""
    from prefcal.donation.check import check_export, format_check

    try:
        summary = check_export(args.path)
    except IngestError as exc:
        if not args.json:
            raise
        print(json.dumps({"export": args.path, "usable": False, "error": str(exc)}, indent=2))
        return 2
    if args.json:
        print(json.dumps(summary, indent=2, sort_keys=False))
    else:
        print(format_check(summary))
    if "error" in summary:  # a file cannot be read: bad input, as for `add`
        if not args.json:
            print(f"prefcal {args.command}: error: {summary['error']}", file=sys.stderr)
        return 2
    return 0 if summary["usable"] else 1


def _line(kind: str, t: dict[str, int]) -> str:
    return (
        f"{kind}: {t['rows_read']:,} read, {t['rows_kept']:,} kept, "
        f"{t['rows_skipped']:,} skipped, {t['duplicates_removed']:,} duplicates"
    )


def run_add(args: argparse.Namespace) -> int:
    """``prefcal donation add``."""
    from prefcal.donation.add import add_export

    r = add_export(
        args.path,
        args.donations,
        label=args.participant,
        study_id=args.study_id,
        new_participant=args.new_participant,
        skip_bad_files=args.skip_bad_files,
    )
    if args.json:
        out: dict[str, Any] = {
            "study_id": r.participant_id,
            "new_participant": r.new_participant,
            "export": r.export_no,
            "export_totals": r.export_totals,
            "participant_totals": r.participant_totals,
            "replaced_rows": r.replaced,
            "messages": r.messages,
        }
        print(json.dumps(out, indent=2))
        return 0
    who = "new participant" if r.new_participant else "participant"
    for m in r.messages:
        print(f"prefcal donation add: {m}")
    if r.export_no is None:
        print(f"prefcal donation add: {who} {r.participant_id}: nothing added")
        return 0
    print(f"prefcal donation add: {who} {r.participant_id}, export {r.export_no}")
    for kind in ("streams", "playlists", "library"):
        if kind in r.export_totals:
            print(f"  this export, {_line(kind, r.export_totals[kind])}")
    if r.replaced:
        print(
            "  rows of earlier exports replaced by this one: "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(r.replaced.items()))
        )
    t = r.participant_totals
    print(
        f"  participant now: {t['streams']['rows_kept']:,} streams, "
        f"{t['playlists']['rows_kept']:,} playlist items, {t['library']['rows_kept']:,} "
        "library items"
    )
    if t["files"].get("error"):
        print(
            f"prefcal donation add: {t['files']['error']} file(s) could not be read, see the "
            "report",
            file=sys.stderr,
        )
    return 0


def run_list(args: argparse.Namespace) -> int:
    """``prefcal donation list``."""
    from prefcal.donation.folder import read_manifest

    m = read_manifest(args.donations)
    print("study_id     exports  streams  playlist_items  library_items")
    for pid, p in sorted(m["participants"].items()):
        print(
            f"{pid}  {p['exports']:7d}  {p['streams']:7d}  {p['playlists']:14d}  {p['library']:13d}"
        )
    print(f"{len(m['participants'])} participants")
    return 0


def run_shard(args: argparse.Namespace) -> int:
    """``prefcal donation shard``."""
    from prefcal.donation.shard import build_shard

    rep = build_shard(args.donations, args.shard, args.n_shards, args.out)
    t = rep["totals"]
    print(
        f"prefcal donation shard {args.shard}/{args.n_shards}: {t['participants']} participants, "
        f"{t['streams']['rows_kept']:,} streams -> {args.out}"
    )
    return 0
