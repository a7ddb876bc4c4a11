"""Study ids of participants: ``P`` + 10 hex digits, never derived from anything a reader could
reverse without the seed.

With a seed S the id of a donation named N is ``"P" + hex(blake2b(N, key=S, digest_size=5))``: the
same (S, N) always gives the same id, whatever the shard or the order of the run, and without S
the id cannot be linked back to N. Without a seed the id is 40 random bits from :mod:`secrets`.
"""

from __future__ import annotations

import hashlib
import secrets

_PERSON = b"prefcal-study-id"  # blake2b personalisation: these hashes serve nothing else


def _strip_zip(name: str) -> str:
    return name[:-4] if name.lower().endswith(".zip") else name


def study_id(name: str, seed: int) -> str:
    """Deterministic study id of the donation ``name`` (folder name, or zip name; a trailing
    ``.zip`` is ignored so that a folder and its zip get the same id) under ``seed``.

    >>> study_id("sim_000123", 20261122) == study_id("sim_000123.zip", 20261122)
    True
    >>> len(study_id("sim_000123", 1)), study_id("sim_000123", 1)[0]
    (11, 'P')
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    key = str(seed).encode("ascii")
    digest = hashlib.blake2b(
        _strip_zip(name).encode("utf-8"), key=key, digest_size=5, person=_PERSON
    ).hexdigest()
    return "P" + digest


def random_study_id() -> str:
    """A fresh random study id (``P`` + 10 hex digits from :func:`secrets.token_hex`)."""
    return "P" + secrets.token_hex(5)


def is_study_id(value: str) -> bool:
    """True for strings of the form ``P`` + 10 lower-case hex digits."""
    return len(value) == 11 and value[0] == "P" and all(c in "0123456789abcdef" for c in value[1:])
