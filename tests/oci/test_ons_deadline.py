"""An ONS publish has one total deadline (connect + read timeout), however slowly the
endpoint answers: the SDK's timeouts are per socket read, like requests'."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from rawhttp import read_request
from triaged.cloud.clients import ClientFactory
from triaged.messages import Event, Message
from triaged.model import Severity
from triaged.notifiers.base import NotifyError
from triaged.notifiers.oci_ons import OnsNotifier

TOPIC = "ocid1.onstopic.oc1..aaaatrickle"


@pytest.fixture
def trickling_endpoint() -> Iterator[str]:
    """Reads a request, then answers its status line one byte every 0.3 s (for at
    most 8 s, so a client without a total deadline ends too)."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            if not read_request(conn):
                return
            answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
            until = time.monotonic() + 8
            for byte in answer:
                if stop.wait(0.3) or time.monotonic() > until:
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    server.close()


def test_a_trickling_ons_endpoint_is_cut_off_at_connect_plus_read_timeout(
    make_cfg: Any, trickling_endpoint: str
) -> None:
    """Each byte resets the SDK's 1 s read timeout: before, the publish (and the
    dispatch round making it) lasted as long as the endpoint liked."""
    cfg = make_cfg(timeouts={"connect": "1s", "read": "1s"}, endpoints={"notification": trickling_endpoint})
    ons = OnsNotifier("oncall", {"default": TOPIC}, ClientFactory(cfg).notification)
    msg = Message(dedup_key="triaged-1-open", event=Event.OPEN, incident_id=1, severity=Severity.P1,
                  title="[P1] t", body="b", service="api", started_at=time.time())  # fmt: skip
    started = time.monotonic()
    with pytest.raises(NotifyError, match="timed out after 2s") as info:
        ons.send(msg)
    assert not info.value.permanent
    assert 1.8 < time.monotonic() - started < 3.5
