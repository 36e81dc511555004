"""A full run — OCI Monitoring signed with a real API key against a fake OCI, the
HTTP API used with right and wrong tokens, a reload, a heartbeat, a stop — and then
the whole log is searched for the API token and the private key."""

from __future__ import annotations

import base64
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from triaged.testing.fake_oci import FakeOci

from .conftest import TOKEN, Setup, free_port, wait_until

os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"


@pytest.fixture
def fake_oci() -> Iterator[FakeOci]:
    with FakeOci() as server:
        yield server


def oci_section(fake: FakeOci, config_file: Path) -> str:
    return f"""heartbeat:
  receiver: hook
  interval: 1h
oci:
  auth: config_file
  config_file: {config_file}
  profile: DEFAULT
  timeouts: {{connect: 2s, read: 2s}}
  endpoints: {{monitoring: {fake.url}, notification: {fake.url}}}
  monitoring:
    queries:
      - name: api_cpu
        namespace: oci_computeagent
        query: CpuUtilization[1m]{{resourceId = "ocid1.instance.oc1..aaaa"}}.mean()
        compartment_id: ocid1.compartment.oc1..aaaafake
        interval: 1s
"""


def key_material(key_file: Path) -> list[str]:
    """The PEM's base64 body in lines, plus the raw key bytes re-encoded in one piece."""
    pem = key_file.read_text().splitlines()
    body = [line for line in pem if line and not line.startswith("-----")]
    joined = "".join(body)
    return [*body, joined, base64.b64decode(joined).hex()[:64]]


def test_a_full_run_never_logs_the_token_or_the_oci_key(
    setup: Setup, start_daemon: Any, fake_oci: FakeOci, tmp_path: Path
) -> None:
    creds = fake_oci.make_credentials(tmp_path / "oci")
    setup.write(port=free_port(), extra=oci_section(fake_oci, creds.config_file))
    d = start_daemon(setup.config)
    port = d.port
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: fake_oci.calls("metrics"), what="a signed OCI Monitoring call")
    wait_until(
        lambda: [p for p in setup.receiver.payloads() if p["event"] == "heartbeat"], what="a heartbeat"
    )

    right = {"Authorization": f"Bearer {TOKEN}"}
    assert requests.get(f"{base}/api/v1/incidents", headers=right, timeout=5).status_code == 200
    assert requests.get(f"{base}/metrics", headers=right, timeout=5).status_code == 200
    assert requests.get(f"{base}/api/v1/incidents?token={TOKEN}", timeout=5).status_code == 401
    wrong = {"Authorization": f"Bearer {TOKEN[::-1]}"}
    assert requests.get(f"{base}/api/v1/incidents", headers=wrong, timeout=5).status_code == 401
    assert requests.post(f"{base}/api/v1/reload", headers=right, timeout=10).json()["ok"] is True
    d.signal(signal.SIGHUP)
    wait_until(lambda: len(d.named("rules_loaded")) >= 2, what="the SIGHUP reload")
    assert d.stop() == 0

    log = d.log_path.read_text()
    assert d.named("api_unauthorized"), "the wrong-token requests were logged"
    assert TOKEN not in log
    assert "PRIVATE KEY" not in log
    for secret in key_material(creds.key_file):
        assert secret not in log
