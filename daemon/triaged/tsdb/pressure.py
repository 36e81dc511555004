"""Who is pushing against the series limit, and one rate-limited line about it.

The tsdb holds at most ``max_series`` series for the whole daemon. Once it is full, a
new series costs an eviction (a series its source stopped reporting) or is refused.
Either way the source that asked is counted here, so the warning can name the
churning target instead of leaving the operator to guess why a new series — say a
first ``status_code="500"`` — never appeared. One line a minute at most: a churning
target asks for thousands of series a scrape, and a line each would bury the log.
"""

from __future__ import annotations

from collections import Counter

WARN_EVERY_MS = 60_000
TOP_SOURCES = 3


class SeriesPressure:
    """New series asked for while the tsdb was full, per source, since the last warning.

    Bounded by the number of sources (a few counters each), never by series.
    """

    def __init__(self) -> None:
        self.asked: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.evicted = 0
        self._warned_at: int | None = None

    def note(self, source: str, *, refused: bool) -> None:
        self.asked[source] += 1
        if refused:
            self.refused[source] += 1

    def due(self, now_ms: int) -> bool:
        """Something to report, and a minute since the last report (or the clock went back)."""
        if not self.asked:
            return False
        last = self._warned_at
        return last is None or now_ms - last >= WARN_EVERY_MS or now_ms < last

    def take(self, now_ms: int) -> dict[str, object]:
        """The fields of one warning; counting starts again from zero."""
        fields: dict[str, object] = {
            "refused": self.refused.total(),
            "evicted": self.evicted,
            "top_sources": dict(self.asked.most_common(TOP_SOURCES)),
            "refused_by_source": dict(self.refused.most_common(TOP_SOURCES)),
        }
        self.asked.clear()
        self.refused.clear()
        self.evicted = 0
        self._warned_at = now_ms
        return fields
