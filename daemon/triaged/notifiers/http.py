"""HTTP delivery shared by the JSON receivers: one POST, failures classified here.

2xx is success. 408, 429 and 5xx are retryable, no sooner than the receiver's
``Retry-After``; any other status is permanent. Transport errors (timeout, refused,
reset) are retryable; a URL that cannot be sent to at all (no scheme, bad host) is
permanent, as retrying it for hours would only hold up the receiver's queue.
"""

from __future__ import annotations

import math
from typing import NoReturn

import requests

from triaged.errors import describe
from triaged.notifiers.base import NotifyError

# The request could never be sent as configured; a retry would fail the same way.
_UNSENDABLE = (
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidURL,
)


def post(
    session: requests.Session, receiver: str, url: str, body: bytes, timeout_s: float
) -> requests.Response:
    try:
        return session.post(url, data=body, timeout=timeout_s)
    except requests.Timeout as exc:
        raise NotifyError(f"{receiver}: timed out after {timeout_s}s") from exc
    except requests.RequestException as exc:
        raise NotifyError(f"{receiver}: {describe(exc)}", permanent=isinstance(exc, _UNSENDABLE)) from exc


def fail(resp: requests.Response, detail: str) -> NoReturn:
    """Raise the NotifyError a non-2xx answer deserves."""
    if resp.status_code in (408, 429) or resp.status_code >= 500:
        raise NotifyError(detail, retry_after=retry_after(resp.headers.get("Retry-After")))
    raise NotifyError(detail, permanent=True)


def retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (the delay form; an HTTP date is ignored)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return max(0.0, seconds) if math.isfinite(seconds) else None
