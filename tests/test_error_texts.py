"""A failed delivery reads as the request and its root cause, in one short line,
not urllib3's nested ``HTTPConnectionPool(...): Max retries exceeded ... (Caused by
NewConnectionError(...))``; credentials and query strings stay out of it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import requests

from rawhttp import read_request
from triaged.errors import describe
from triaged.messages import Event, Message
from triaged.model import Severity
from triaged.notifiers.base import NotifyError
from triaged.notifiers.webhook import WebhookNotifier

MSG = Message(
    dedup_key="triaged-7-open", event=Event.OPEN, incident_id=7, severity=Severity.P1, title="[P1] down",
    body="body", service="shop", started_at=1_790_000_000.0,
)  # fmt: skip


def closed_port() -> int:
    with socket.socket() as sock:  # free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def hangs_up() -> Iterator[int]:
    """A server that reads the request and closes the connection without answering."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(5)

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            read_request(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    server.close()
    thread.join(5)


def test_a_refused_webhook_is_one_short_line() -> None:
    port = closed_port()
    with pytest.raises(NotifyError) as info:
        WebhookNotifier("hook", f"http://127.0.0.1:{port}/hook", timeout_s=2).send(MSG)
    assert str(info.value) == f"hook: POST http://127.0.0.1:{port}/hook: connection refused"
    assert not info.value.permanent


def test_credentials_and_the_query_string_are_left_out() -> None:
    port = closed_port()
    with pytest.raises(requests.ConnectionError) as info:
        requests.post(f"http://asha:hunter2@127.0.0.1:{port}/hook?token=s3cret", timeout=2)
    assert describe(info.value) == f"POST http://127.0.0.1:{port}/hook: connection refused"


def test_an_unknown_host_is_name_not_resolved() -> None:
    with pytest.raises(requests.ConnectionError) as info:
        requests.get("http://triaged-test.invalid/hook", timeout=5)
    assert describe(info.value) == "GET http://triaged-test.invalid/hook: name not resolved"


def test_a_receiver_that_hangs_up_is_named_so(hangs_up: int) -> None:
    with pytest.raises(NotifyError) as info:
        WebhookNotifier("hook", f"http://127.0.0.1:{hangs_up}/hook", timeout_s=3).send(MSG)
    assert (
        str(info.value)
        == f"hook: POST http://127.0.0.1:{hangs_up}/hook: connection closed without a response"
    )


def test_other_errors_keep_type_and_first_line() -> None:
    assert describe(ValueError("bad\nsecond line")) == "ValueError: bad"
    assert describe(OSError(28, "No space left on device")) == "OSError: [Errno 28] No space left on device"
