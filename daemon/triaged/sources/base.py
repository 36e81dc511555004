"""The seam between sources and the tsdb.

A source is polled by the scheduler with ``now`` and never raises: a failure is data
(``up 0``, ``probe_success 0``) plus an error string for the log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

from triaged.model import Labels, Sample


@dataclass
class Collected:
    """One poll of one source.

    ``samples`` are stamped with the poll time ``t_ms`` and take part in staleness
    tracking; ``timestamped`` carry their own time (OCI datapoints arrive late) and
    are appended as they are. ``revisable`` says those may change after the fact: a
    point at a time already stored then replaces that value, and one older than the
    newest is inserted (the tsdb does it, within its retention).
    """

    t_ms: int
    samples: list[tuple[Labels, float]] = field(default_factory=list)
    timestamped: list[Sample] = field(default_factory=list)
    revisable: bool = False
    error: str | None = None
    # What stays the same while one failure lasts (its kind, not a request id or a
    # "next try in 3s" countdown): the daemon logs a failure again only when this
    # changes, so one outage is one line. None: the error text itself.
    error_key: str | None = None
    # Poll again this many seconds after this poll instead of a whole interval (a poll
    # our own rate limiting skipped: it should not wait a minute for its turn).
    retry_in: float | None = None
    # Counters that appear between two scrapes. A series of one of the ``cumulative``
    # names (counters, histogram buckets/count/sum) that the tsdb does not hold yet
    # was zero at ``zero_at_ms``, the source's previous successful poll: it did not
    # exist then, and a counter starts at zero. So rate() sees its first increase at
    # once instead of a scrape later. None: no such poll (the first, or it failed).
    cumulative: frozenset[str] = frozenset()
    zero_at_ms: int | None = None


class Source(Protocol):
    @property
    def key(self) -> str:
        """Stable identity, e.g. ``scrape/bharatmart/127.0.0.1:9100``."""
        ...

    @property
    def interval(self) -> float:
        """Seconds between polls."""
        ...

    def collect(self, now: float) -> Collected: ...


# A source may also have ``timeout`` or ``cycle_wait`` (seconds): how long a cycle
# waits for its poll before evaluating rules (triaged.polling.cycle_wait).


def instance_of(url: str) -> str:
    """``host:port`` of a URL, with the scheme's default port filled in: a scrape
    target's ``instance`` label, as Prometheus derives it from ``__address__``."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        port = 443 if parts.scheme == "https" else 80
    return f"{host}:{port}"
