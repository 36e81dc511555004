"""HTTP delivery shared by the JSON receivers: one POST, failures classified here.

2xx is success. 408, 429 and 5xx are retryable, no sooner than the receiver's
``Retry-After``; a 429 also says the receiver as a whole is throttling us. Any other
status is permanent. Transport errors (timeout, refused, reset) are retryable; a URL
that cannot be sent to at all (no scheme, bad host) is permanent, as retrying it for
hours would only hold up the receiver's queue.

The whole exchange has one deadline, the notifier's ``timeout``: ``requests`` applies
its timeout to each socket read, so a receiver answering a byte a second would hold
the send (and every row behind it) for ever. A watched session
(:mod:`triaged.httpdeadline`) is cut off when the deadline passes. Once the status
line and headers are in, the answer stands: the body, read up to
``MAX_ANSWER_BYTES`` within what is left of the deadline, is only a courtesy.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import requests
import urllib3

from triaged.errors import describe, retry_after
from triaged.httpdeadline import deadline, new_session
from triaged.notifiers.base import NotifyError

# A receiver's answer is read up to this much; nobody needs more to say "ok".
MAX_ANSWER_BYTES = 64 * 1024

# The request could never be sent as configured; a retry would fail the same way.
_UNSENDABLE = (
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.InvalidURL,
)

__all__ = ["MAX_ANSWER_BYTES", "Answer", "fail", "new_session", "post"]


@dataclass(frozen=True)
class Answer:
    """What the receiver said: status, headers and (at most ``MAX_ANSWER_BYTES`` of) body."""

    status_code: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON; raises ValueError if it is not."""
        return json.loads(self.body)


def post(session: requests.Session, receiver: str, url: str, body: bytes, timeout_s: float) -> Answer:
    """POST ``body``, all of it within ``timeout_s`` (use a session from
    :func:`new_session`, or only the per-read timeouts apply)."""
    with deadline(timeout_s) as watch:
        try:
            resp = session.post(url, data=body, timeout=timeout_s, stream=True)
        except requests.RequestException as exc:
            if watch.fired or isinstance(exc, requests.Timeout):
                raise NotifyError(f"{receiver}: timed out after {timeout_s:g}s") from exc
            raise NotifyError(f"{receiver}: {describe(exc)}", permanent=isinstance(exc, _UNSENDABLE)) from exc
        with resp:
            return Answer(resp.status_code, resp.headers, _read_answer(resp))


def _read_answer(resp: requests.Response) -> bytes:
    try:
        data = resp.raw.read(MAX_ANSWER_BYTES, decode_content=True)
    # The status is the answer; a body cut off (deadline, reset) is only less detail.
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError):
        return b""
    return data if isinstance(data, bytes) else b""


def fail(resp: Answer, detail: str) -> NoReturn:
    """Raise the NotifyError a non-2xx answer deserves."""
    if resp.status_code in (408, 429) or resp.status_code >= 500:
        raise NotifyError(
            detail,
            retry_after=retry_after(resp.headers.get("Retry-After"), time.time()),
            throttled=resp.status_code == 429,
        )
    raise NotifyError(detail, permanent=True)
