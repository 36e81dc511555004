"""Prometheus-style scrapes of a ``/metrics`` endpoint.

Each target gets its own ``requests.Session`` (keep-alive) and its own exposition
parser, whose cache holds the *relabelled* series, so attaching ``job``/``instance``
costs nothing after the first scrape. Whatever happens, the scrape reports ``up``,
``scrape_duration_seconds`` and ``scrape_samples_scraped``, as Prometheus does, so
rules like ``up == 0`` see a dead target.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import urlsplit

import requests

from triaged.errors import public_url
from triaged.model import METRIC_NAME, Labels
from triaged.sources.base import Collected, instance_of
from triaged.sources.exposition import ExpositionError, ExpositionParser, SampleLimitError
from triaged.sources.http import fetch, new_session, redirect_note

__all__ = ["ScrapeTarget", "Scraper", "instance_of"]

_ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1"


_FOREIGN_TYPES = frozenset({"text/html", "application/json", "application/xml", "text/xml"})


def _foreign_note(content_type: str) -> str:
    """Why the text did not parse, when the answer says it is no metrics page at all
    (a login page, a JSON API behind the wrong path): the fix is the URL, not the app."""
    media = content_type.split(";", 1)[0].strip().lower()
    return f" (the answer is {media}, not metrics: check the URL)" if media in _FOREIGN_TYPES else ""


def _is_openmetrics(content_type: str) -> bool:
    """A target may answer OpenMetrics though we ask for the text format; Prometheus
    then reads it as OpenMetrics (float timestamps, exemplars, ``# EOF``), and so do we."""
    return content_type.split(";", 1)[0].strip().lower() == "application/openmetrics-text"


@dataclass(frozen=True)
class ScrapeTarget:
    job: str
    url: str
    interval: float = 15.0
    timeout: float = 10.0
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    max_body_bytes: int = 10 * 1024 * 1024
    max_samples: int = 100_000
    follow_redirects: bool = True  # as Prometheus's scrape config; false: a 3xx fails the scrape
    # A counter that appears between two successful scrapes starts from zero at the
    # earlier one (Collected.zero_at_ms); false: it needs a second scrape, as in Prometheus.
    new_counters_from_zero: bool = True

    def __post_init__(self) -> None:
        # A read-only copy, so a target stays a value even if the caller's dict changes.
        object.__setattr__(self, "labels", MappingProxyType(dict(self.labels)))


class Scraper:
    """A :class:`~triaged.sources.base.Source` that scrapes one target."""

    def __init__(self, target: ScrapeTarget, session: requests.Session | None = None) -> None:
        self.target = target
        self.instance = instance_of(target.url)
        # The key names the source for staleness tracking, so two targets on one
        # host:port (different paths) must not share it; /metrics is left implicit.
        parts = urlsplit(public_url(target.url))  # the key is in /metrics and the logs
        where = parts.path + (f"?{parts.query}" if parts.query else "")
        self._key = f"scrape/{target.job}/{self.instance}" + ("" if where in ("", "/metrics") else where)
        self._session = session or new_session()
        # Target labels win; a scraped label of the same name survives as exported_<name>.
        # As in Prometheus, a target's own `job`/`instance` label replaces the default,
        # and an empty value is no label.
        self._target_labels: dict[str, str] = {
            "job": target.job,
            "instance": self.instance,
            **{name: value for name, value in target.labels.items() if value},
        }
        self._parser_cache_size = max(4 * target.max_samples, 1024)
        self._parser = ExpositionParser(relabel=self._relabel, cache_size=self._parser_cache_size)
        self._target_pairs = tuple(Labels.of(self._target_labels))
        self._shared: dict[tuple[str, str], tuple[str, str]] = {}
        self._last_ok_ms: int | None = None  # the previous scrape, when it succeeded
        self._report_labels = {
            name: Labels.of(self._target_labels, **{METRIC_NAME: name})
            for name in ("up", "scrape_duration_seconds", "scrape_samples_scraped")
        }

    @property
    def key(self) -> str:
        return self._key

    @property
    def interval(self) -> float:
        return self.target.interval

    @property
    def timeout(self) -> float:
        """Seconds a poll may take; a cycle waits this long for it."""
        return self.target.timeout

    def collect(self, now: float) -> Collected:
        started = time.monotonic()
        t = self.target
        result = fetch(
            self._session,
            t.url,
            timeout=t.timeout,
            max_bytes=t.max_body_bytes,
            # The timeout header lets a slow exporter cut its work short, as for Prometheus.
            headers={"Accept": _ACCEPT, "X-Prometheus-Scrape-Timeout-Seconds": f"{t.timeout:g}"},
            follow_redirects=t.follow_redirects,
        )
        samples: list[tuple[Labels, float]] = []
        error = result.error
        # Only 200, as Prometheus: a 204 has no metrics to read, a 206 only some of them.
        if error is None and result.status != 200:
            error = f"HTTP status {result.status}{redirect_note(result)}"
        if error is None:
            try:
                samples = self._parser.parse(
                    result.body, max_samples=t.max_samples, openmetrics=_is_openmetrics(result.content_type)
                )
            except SampleLimitError:
                error = f"sample limit exceeded: more than {t.max_samples} samples"
            except ExpositionError as exc:
                error = f"parse error: {exc}{_foreign_note(result.content_type)}"
        scraped = len(samples)
        duration = time.monotonic() - started
        samples.extend(self._report(up=error is None, duration=duration, scraped=scraped))
        t_ms = int(now * 1000)
        zero_at_ms, self._last_ok_ms = self._last_ok_ms, (t_ms if error is None else None)
        if error is not None or not t.new_counters_from_zero:
            return Collected(t_ms=t_ms, samples=samples, error=error)
        return Collected(
            t_ms=t_ms, samples=samples, cumulative=self._parser.cumulative, zero_at_ms=zero_at_ms
        )

    def close(self) -> None:
        self._session.close()

    def _report(self, *, up: bool, duration: float, scraped: int) -> list[tuple[Labels, float]]:
        r = self._report_labels
        return [
            (r["up"], 1.0 if up else 0.0),
            (r["scrape_duration_seconds"], duration),
            (r["scrape_samples_scraped"], float(scraped)),
        ]

    def _relabel(self, scraped: Labels) -> Labels:
        # Runs once per new series. The scraped pairs are the parser's shared tuples and
        # are reused as they are: a fresh tuple per pair per series would cost ~50 bytes
        # each, most of a series' label memory.
        names = self._target_labels
        if any(p[0] in names for p in scraped):
            return self._relabel_clashing(scraped)
        pairs = list(scraped)
        pairs.extend(self._target_pairs)
        pairs.sort()
        return Labels(pairs)

    def _relabel_clashing(self, scraped: Labels) -> Labels:
        """Target labels win; a scraped label of the same name survives as
        exported_<name>, or with as many more ``exported_`` as it takes to find a name
        nobody uses (a scraped ``exported_job`` is not overwritten), as in Prometheus."""
        merged = dict(scraped)
        targets = self._target_labels
        # Shortest names first, as Prometheus resolves them (names in order among equals).
        clashes = sorted(((n, merged[n]) for n in sorted(targets) if n in merged), key=lambda p: len(p[0]))
        merged.update(targets)
        for name, value in clashes:
            free = name
            while free in merged:  # scraped, target and already resolved names
                free = f"exported_{free}"
            merged[free] = value
        if len(self._shared) > self._parser_cache_size:
            self._shared.clear()  # bounded like the parser cache; a miss only costs memory
        share = self._shared.setdefault
        return Labels(sorted(share(p, p) for p in merged.items() if p[1]))
