"""Errors raised by the collector; every message is redacted when the error is created.

Exit statuses used by ``prefcal collect`` (see :mod:`prefcal.collect.cli`):

* 2 - bad input or setup (:class:`MissingClientId`, :class:`NotLoggedIn`, bad ``--every``);
* 3 - stopped by a rate limit that must not be slept out (:class:`StopCollecting`); everything
  fetched before the stop is stored, and the message says when to resume;
* 1 - any other :class:`CollectError` (API error, network error, failed token refresh).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime

from prefcal.collect.redact import redact


class CollectError(Exception):
    """Base class: a one-line, secret-free message for the user."""

    exit_status = 1

    def __init__(self, message: str) -> None:
        self.message = redact(message)
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class MissingClientId(CollectError):
    """``SPOTIFY_CLIENT_ID`` is not set."""

    exit_status = 2


class NotLoggedIn(CollectError):
    """No usable token in the cache: ``prefcal collect login`` must run first."""

    exit_status = 2


class AuthError(CollectError):
    """The token endpoint refused a code or a refresh token."""


class NetworkError(CollectError):
    """No HTTP response (connection refused, DNS, timeout)."""


class ApiError(CollectError):
    """An HTTP error status from the Web API that the collector does not retry."""

    def __init__(self, what: str, status: int, detail: str = "") -> None:
        self.status = int(status)
        self.what = what
        super().__init__(f"{what}: HTTP {status}" + (f" ({detail})" if detail else ""))


class StopCollecting(CollectError):
    """A 429 that must not be slept out; ``resume_at`` is now + Retry-After (UTC)."""

    exit_status = 3

    def __init__(self, what: str, reason: str, resume_at: datetime, retry_after_s: float) -> None:
        self.what = what
        self.reason = reason
        self.resume_at = resume_at
        self.retry_after_s = float(retry_after_s)
        super().__init__(
            f"{reason} on {what}; stopped without waiting; resume after {format_utc(resume_at)}"
        )


class QuotaExceeded(StopCollecting):
    """The daily quota is used up (429 whose body says ``QUOTA_EXCEEDED``)."""


class RateLimitTooLong(StopCollecting):
    """A 429 whose Retry-After is longer than the configured bound, or too many 429s in a row."""


def format_utc(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` for an aware datetime (converted to UTC)."""
    from datetime import UTC

    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextlib.contextmanager
def redacted_errors(what: str) -> Iterator[None]:
    """Re-raise any exception other than :class:`CollectError` as a redacted ``CollectError``.

    The original exception is not chained (``from None``), so a traceback printed later cannot
    show its unredacted message.
    """
    try:
        yield
    except CollectError:
        raise
    except Exception as exc:  # noqa: BLE001 - converting everything is the point
        raise CollectError(f"{what}: {type(exc).__name__}: {exc}") from None
