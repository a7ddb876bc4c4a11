"""Row-level problems: counted by reason, with the first few row numbers kept as examples.

A reason is ``"<problem>:<field>"`` with the field named as the export names it, for example
``missing:ts`` (absent or null), ``negative:ms_played``, ``bad_type:shuffle``,
``bad_value:endTime`` (a timestamp that does not parse), or a bare problem such as
``not_an_object``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

MAX_EXAMPLES = 5


@dataclass
class SkipLog:
    """Counts of skipped rows by reason and up to :data:`MAX_EXAMPLES` example rows per reason."""

    counts: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[int]] = field(default_factory=dict)

    def add(self, reason: str, rows: np.ndarray | list[int]) -> None:
        """Record that the rows ``rows`` (0-based positions in the file) were skipped for
        ``reason``."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            return
        self.counts[reason] += int(rows.size)
        ex = self.examples.setdefault(reason, [])
        ex.extend(int(r) for r in np.sort(rows)[:MAX_EXAMPLES])
        self.examples[reason] = sorted(set(ex))[:MAX_EXAMPLES]

    @property
    def total(self) -> int:
        """Number of rows skipped for any reason."""
        return int(sum(self.counts.values()))

    def merge(self, other: SkipLog) -> None:
        """Add the counts and examples of ``other`` to this log."""
        for reason, n in other.counts.items():
            self.counts[reason] += n
            ex = self.examples.setdefault(reason, [])
            self.examples[reason] = sorted(set(ex) | set(other.examples.get(reason, [])))[
                :MAX_EXAMPLES
            ]

    def to_json(self) -> dict[str, object]:
        """``{"by_reason": {reason: n}, "examples": [{"row": i, "reason": r}, ...]}``."""
        return {
            "by_reason": {k: int(self.counts[k]) for k in sorted(self.counts)},
            "examples": [
                {"row": r, "reason": k} for k in sorted(self.examples) for r in self.examples[k]
            ],
        }
