"""Blackbox-style HTTP probes of health endpoints.

A probe answers one question — did the endpoint give an expected status within the
timeout? — as three samples: ``probe_success``, ``probe_http_status_code`` (0 when no
response arrived) and ``probe_duration_seconds``. The timeout is the probe's own:
a hung dependency can hang the app's health handler indefinitely (the BharatMart
``hung`` capture), and the probe must report that as a failure, not wait.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import requests

from triaged.errors import public_url
from triaged.model import METRIC_NAME, Labels
from triaged.sources.base import Collected
from triaged.sources.http import fetch, new_session, redirect_note

__all__ = ["ProbeTarget", "Prober"]


@dataclass(frozen=True)
class ProbeTarget:
    job: str
    url: str
    interval: float = 15.0
    timeout: float = 5.0
    labels: Mapping[str, str] = field(default_factory=dict, hash=False)
    expect_status: tuple[int, int] = (200, 299)
    max_body_bytes: int = 1024 * 1024
    follow_redirects: bool = True  # false: a 3xx is judged as the answer (expect_status)

    def __post_init__(self) -> None:
        # A read-only copy, so a target stays a value even if the caller's dict changes.
        object.__setattr__(self, "labels", MappingProxyType(dict(self.labels)))


class Prober:
    """A :class:`~triaged.sources.base.Source` that probes one URL."""

    def __init__(self, target: ProbeTarget, session: requests.Session | None = None) -> None:
        self.target = target
        self._session = session or new_session()
        # The URL is the instance, as with the blackbox exporter, but never its
        # credentials: labels reach titles, pages, the store and postmortems. An
        # `instance` label of the probe's own wins, as a target's does.
        self.shown_url = public_url(target.url)
        instance = target.labels.get("instance") or self.shown_url
        base = {**target.labels, "job": target.job, "instance": instance}
        self._labels = {
            name: Labels.of(base, **{METRIC_NAME: name})
            for name in ("probe_success", "probe_http_status_code", "probe_duration_seconds")
        }

    @property
    def key(self) -> str:
        return f"probe/{self.target.job}/{self.shown_url}"

    @property
    def interval(self) -> float:
        return self.target.interval

    @property
    def timeout(self) -> float:
        """Seconds a poll may take; a cycle waits this long for it."""
        return self.target.timeout

    def collect(self, now: float) -> Collected:
        t = self.target
        # Only the status counts: a health page larger than max_body_bytes is read that far.
        result = fetch(
            self._session,
            t.url,
            timeout=t.timeout,
            max_bytes=t.max_body_bytes,
            truncate=True,
            follow_redirects=t.follow_redirects,
        )
        low, high = t.expect_status
        error = result.error
        if error is None and not low <= result.status <= high:
            error = f"HTTP status {result.status}, expected {low}-{high}{redirect_note(result)}"
        lab = self._labels
        samples = [
            (lab["probe_success"], 1.0 if error is None else 0.0),
            (lab["probe_http_status_code"], float(result.status)),
            (lab["probe_duration_seconds"], result.elapsed),
        ]
        return Collected(t_ms=int(now * 1000), samples=samples, error=error)

    def close(self) -> None:
        self._session.close()
