"""Helpers shared by the ingest tests (no tests here): the real fixture exports and files derived
from them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "spotify_exports"
ENDSONG = FIXTURES / "extended_endsong" / "endsong_1.json"
LEGACY = FIXTURES / "legacy_account" / "StreamingHistory0.json"
ACCOUNT = FIXTURES / "account_2024"

# Distinctive personal values planted in synthetic files: none may reach any output.
PII = {
    "username": "secret-username-4242",
    "ip_addr": "203.0.113.77",
    "ip_addr_decrypted": "198.51.100.23",
    "user_agent_decrypted": "Mozilla/5.0 (SecretAgent 9.9)",
    "conn_country": "ZQ",
}


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def dump(obj: Any, path: Path, indent: int | None = 2) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=indent, ensure_ascii=False), encoding="utf-8")
    return path


def to_new_format(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Endsong rows rewritten as the new extended generation (Streaming_History_Audio_*):
    no username/user agent, ``ip_addr``, audiobook fields, offline_timestamp in seconds,
    normalised platform, boolean ``skipped``."""
    out = []
    for r in rows:
        plat = r["platform"].lower()
        platform = "ios" if plat.startswith("ios") else "windows" if "windows" in plat else plat
        ot = r["offline_timestamp"]
        out.append(
            {
                "ts": r["ts"],
                "platform": platform,
                "ms_played": r["ms_played"],
                "conn_country": PII["conn_country"],
                "ip_addr": PII["ip_addr"],
                "master_metadata_track_name": r["master_metadata_track_name"],
                "master_metadata_album_artist_name": r["master_metadata_album_artist_name"],
                "master_metadata_album_album_name": r["master_metadata_album_album_name"],
                "spotify_track_uri": r["spotify_track_uri"],
                "episode_name": r["episode_name"],
                "episode_show_name": r["episode_show_name"],
                "spotify_episode_uri": r["spotify_episode_uri"],
                "audiobook_title": None,
                "audiobook_uri": None,
                "audiobook_chapter_uri": None,
                "audiobook_chapter_title": None,
                "reason_start": r["reason_start"],
                "reason_end": r["reason_end"],
                "shuffle": r["shuffle"],
                "skipped": bool(r["skipped"]),
                "offline": r["offline"],
                "offline_timestamp": None if ot is None else ot // 1000,
                "incognito_mode": r["incognito_mode"],
            }
        )
    return out


def with_pii(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Endsong rows with the planted personal values."""
    keys = ("username", "ip_addr_decrypted", "user_agent_decrypted", "conn_country")
    return [{**r, **{k: PII[k] for k in keys}} for r in rows]


def to_account(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The account-data (``StreamingHistory_music_N.json``) view of extended music rows: end time
    truncated to the minute, no URI, no platform."""
    return [
        {
            "endTime": r["ts"][:10] + " " + r["ts"][11:16],
            "artistName": r["master_metadata_album_artist_name"],
            "trackName": r["master_metadata_track_name"],
            "msPlayed": r["ms_played"],
        }
        for r in rows
    ]


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    for p in dst.rglob("*"):
        p.chmod(0o644 if p.is_file() else 0o755)
    return dst
