"""The one exception of the ingest."""

from __future__ import annotations


class IngestError(ValueError):
    """Bad input that stops the ingest of a file; the message names the file, and the row and the
    field where it applies. Row-level problems never raise: the row is skipped and counted."""
