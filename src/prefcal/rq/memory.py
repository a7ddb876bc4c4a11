"""Hand memory freed by a bounded stage of stage 05 back to the operating system.

Stage 05 runs a few stages whose memory is bounded by a fixed number of users (the H6 overlaps of
``rq.h6.max_users`` users read their streams shard by shard) before it holds the snapshot arrays,
whose size grows with the study. Freed memory is not always returned by the allocators: pyarrow's
pool keeps it for reuse, and glibc's heap keeps free chunks between live ones. Then the peak of
the job would be the bounded stage's high-water mark *plus* the snapshot arrays instead of the
larger of the two. :func:`release_freed_memory` returns both: ``MemoryPool.release_unused`` for
pyarrow and ``malloc_trim(0)`` for glibc (a no-op where the C library has none). It frees nothing
that is in use and changes no result.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc

import pyarrow as pa

__all__ = ["release_freed_memory"]


def release_freed_memory() -> None:
    """Collect garbage, then return pyarrow's and glibc's free memory to the operating system."""
    gc.collect()
    pa.default_memory_pool().release_unused()
    name = ctypes.util.find_library("c")
    if name is None:
        return
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return
    trim(0)
