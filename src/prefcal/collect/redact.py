"""Keep OAuth secrets out of logs, exception messages and stored files.

Two complementary mechanisms:

* a registry of **known secret values** (access token, refresh token, authorization code, PKCE
  verifier, client id) filled by :mod:`prefcal.collect.auth` the moment a value is created or read
  from the token cache; every occurrence of a registered value is replaced by ``[REDACTED]``;
* **patterns** that catch secrets whose value is not (yet) registered: ``Bearer <token>``,
  ``"access_token": "..."``-style dict/JSON entries and ``refresh_token=...``-style form/query
  parameters for the keys in :data:`SECRET_KEYS`.

:class:`RedactingFilter` applies :func:`redact` to every log record (message, arguments and the
formatted traceback) of the loggers listed in :data:`REDACTED_LOGGERS` - spotipy logs request
headers (``Authorization: Bearer ...``) and token request bodies (refresh token, code, verifier)
at DEBUG level, so its loggers are covered too. Exceptions leave the collector as
:class:`prefcal.collect.errors.CollectError`, whose message is redacted on construction.
"""

from __future__ import annotations

import logging
import re
import threading

REDACTED = "[REDACTED]"

#: keys whose values are secrets wherever they appear as ``key=value`` or ``"key": "value"``
SECRET_KEYS = (
    "access_token",
    "refresh_token",
    "code_verifier",
    "client_secret",
    "id_token",
    "code",
)

#: loggers whose records are redacted (a filter on a logger sees only records created there)
REDACTED_LOGGERS = (
    "prefcal.collect",
    "prefcal.collect.auth",
    "prefcal.collect.client",
    "prefcal.collect.store",
    "prefcal.collect.poll",
    "prefcal.collect.snapshots",
    "prefcal.collect.cli",
    "spotipy",
    "spotipy.client",
    "spotipy.oauth2",
    "spotipy.util",
    "spotipy.cache_handler",
    "urllib3",
    "urllib3.connectionpool",
    "requests",
)

# shortest value registered: shorter strings would redact ordinary words
_MIN_SECRET_LEN = 6

_KEYS = "|".join(SECRET_KEYS)
_PATTERNS = (
    # Authorization header value, in any rendering of the header dict
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1" + REDACTED),
    # 'key': 'value' / "key": "value" (repr of dicts, JSON bodies)
    (
        re.compile(r"""(?i)(["'](?:""" + _KEYS + r""")["']\s*:\s*["'])[^"']*"""),
        r"\1" + REDACTED,
    ),
    # key=value in query strings and form bodies
    (re.compile(r"(?i)((?:^|[?&\s;,])(?:" + _KEYS + r")=)[^&\s\"',;]+"), r"\1" + REDACTED),
)

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: object) -> None:
    """Add a secret value so that :func:`redact` removes it from any text from now on."""
    if isinstance(value, str) and len(value) >= _MIN_SECRET_LEN:
        with _lock:
            _secrets.add(value)


def register_token_info(token_info: object) -> None:
    """Register the secret fields of a token response or cache entry (access and refresh token)."""
    if isinstance(token_info, dict):
        for key in ("access_token", "refresh_token", "id_token"):
            register_secret(token_info.get(key))


def clear_secrets() -> None:
    """Forget every registered value (tests use this to start clean)."""
    with _lock:
        _secrets.clear()


def redact(text: object) -> str:
    """``str(text)`` with every registered secret and every secret-looking field replaced.

    Longer registered values are replaced first so that a secret containing another one is
    removed whole.
    """
    out = str(text)
    with _lock:
        values = sorted(_secrets, key=len, reverse=True)
    for value in values:
        if value in out:
            out = out.replace(value, REDACTED)
    for pattern, replacement in _PATTERNS:
        out = pattern.sub(replacement, out)
    return out


class RedactingFilter(logging.Filter):
    """A logging filter that rewrites a record's message and traceback through :func:`redact`.

    The record is formatted once (``record.getMessage()``), redacted, and its ``args`` cleared, so
    handlers further up the hierarchy only ever see the redacted text.
    """

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: A003 - logging's API name
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not leak its arguments either
            message = f"{record.msg!r} (unformattable log arguments)"
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[0] is not None:
            formatter = logging.Formatter()
            record.exc_text = redact(formatter.formatException(record.exc_info))
            # keep the type for filters downstream but drop the live traceback objects
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = RedactingFilter()


def install_log_redaction(extra_loggers: tuple[str, ...] = ()) -> None:
    """Attach the redacting filter to every logger in :data:`REDACTED_LOGGERS` (idempotent)."""
    for name in REDACTED_LOGGERS + tuple(extra_loggers):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def get_logger(name: str) -> logging.Logger:
    """A logger for a collector module, with the redacting filter already attached."""
    install_log_redaction((name,))
    return logging.getLogger(name)
