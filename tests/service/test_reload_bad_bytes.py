"""A rule or config file that gains a byte that is not UTF-8 (a Latin-1 é, a cp1252
quote) and then a reload: the real daemon keeps running its old rules, logs one
`reload_failed` naming the file, line and byte, and the API answers 422 with it."""

from __future__ import annotations

import signal
from typing import Any

import requests

from .conftest import RULES, TOKEN, Setup, free_port, wait_until

LATIN1 = b'        annotations: {summary: "caf\xe9"}\n'


def api_reload(port: int) -> requests.Response:
    return requests.post(
        f"http://127.0.0.1:{port}/api/v1/reload", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
    )


def test_sighup_and_api_reload_survive_a_file_that_is_not_utf8(setup: Setup, start_daemon: Any) -> None:
    setup.write(port=free_port())
    d = start_daemon(setup.config)
    d.wait_event("daemon_started")
    port = d.port

    setup.rules.write_bytes(RULES.encode() + LATIN1)
    offset = len(RULES.encode()) + LATIN1.index(b"\xe9")
    expected = f"{setup.rules}:9: not UTF-8 (byte 0xe9 at offset {offset}): save the file as UTF-8"
    d.signal(signal.SIGHUP)
    failed = d.wait_event("reload_failed")
    assert failed["errors"] == [expected]
    assert d.proc.poll() is None, "the daemon must survive the reload"

    answer = api_reload(port)
    assert answer.status_code == 422
    assert answer.json()["errors"] == [expected]
    wait_until(lambda: len(d.named("reload_failed")) == 2, what="the API reload's reload_failed")

    # The config file itself, with a cp1252 quote in a comment.
    setup.rules.write_text(RULES)
    config = setup.config.read_bytes()
    setup.config.write_bytes(config + b"# owner: \x93asha\x94\n")
    d.signal(signal.SIGHUP)
    failed = d.wait_event("reload_failed", count=3)
    line = config.count(b"\n") + 1
    assert failed["errors"] == [
        f"{setup.config}:{line}: not UTF-8 (byte 0x93 at offset {len(config) + 9}): save the file as UTF-8"
    ]
    assert d.proc.poll() is None

    setup.config.write_bytes(config)
    assert api_reload(port).json()["ok"] is True
    assert d.stop() == 0


def test_a_reload_that_fails_unexpectedly_keeps_the_daemon_running(setup: Setup, start_daemon: Any) -> None:
    """Whatever a reload trips over (here a token file in Latin-1, which the token
    loader does not expect), it is one `reload_failed`, not the end of the daemon."""
    token = setup.dir / "api-token"
    token.write_text(TOKEN)
    setup.write(port=free_port())
    setup.config.write_text(
        setup.config.read_text().replace("token_env: TRIAGED_API_TOKEN", f"token_file: {token}")
    )
    d = start_daemon(setup.config)
    d.wait_event("daemon_started")

    token.write_bytes(b"caf\xe9" + TOKEN.encode())
    d.signal(signal.SIGHUP)
    failed = d.wait_event("reload_failed")
    assert len(failed["errors"]) == 1 and failed["errors"][0].startswith(f"{setup.config}: ")
    assert d.proc.poll() is None, "the daemon must survive the reload"
    token.write_text(TOKEN)
    d.signal(signal.SIGHUP)
    d.wait_event("rules_loaded")  # the reload after the fix goes through
    assert d.stop() == 0
