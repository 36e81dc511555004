"""Auth modes, preflight and connect checks: one clear line, never a long hang."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from triaged.cloud.auth import AuthError, connect_check, load_credentials, preflight
from triaged.cloud.config import OciConfig
from triaged.cloud.parse_config import parse_oci_config
from triaged.testing.fake_oci import FakeCredentials, FakeOci

QUERY = {
    "name": "api_cpu",
    "namespace": "oci_computeagent",
    "query": "CpuUtilization[1m].mean()",
    "compartment_id": "ocid1.compartment.oc1..aaaatest",
}


def one_line_error(cfg: OciConfig) -> str:
    with pytest.raises(AuthError) as info:
        load_credentials(cfg)
    text = str(info.value)
    assert "\n" not in text and text.startswith("oci: ")
    assert preflight(cfg) == [text]  # `triaged check` reports the same line
    return text


def test_config_file_credentials_load(cfg: OciConfig, creds: FakeCredentials) -> None:
    loaded = load_credentials(cfg)
    assert loaded.region == creds.region
    assert loaded.signer.api_key == creds.key_id
    assert preflight(cfg) == []


def test_missing_config_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "config"
    text = one_line_error(parse_oci_config({"config_file": str(missing)}))
    assert text == f"oci: config file {missing} not found (auth: config_file)"


def test_bad_profile(make_cfg: Any, creds: FakeCredentials) -> None:
    text = one_line_error(make_cfg(profile="PROD"))
    assert text == f"oci: profile 'PROD' not found in {creds.config_file}"


def test_unreadable_key(make_cfg: Any, creds: FakeCredentials) -> None:
    creds.key_file.write_text("-----BEGIN RSA PRIVATE KEY-----\ngarbage\n")
    text = one_line_error(make_cfg())
    assert f"cannot load key_file {creds.key_file}" in text


def test_missing_key_file(make_cfg: Any, creds: FakeCredentials) -> None:
    creds.key_file.unlink()
    assert "key_file" in one_line_error(make_cfg())


def test_invalid_profile_fields(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("[DEFAULT]\nuser=someone\nregion=ap-mumbai-1\n")
    text = one_line_error(parse_oci_config({"config_file": str(config)}))
    assert "is invalid" in text and "fingerprint missing" in text


def test_resource_principal_outside_oci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OCI_RESOURCE_PRINCIPAL_VERSION", raising=False)
    cfg = parse_oci_config({"auth": "resource_principal"})
    with pytest.raises(AuthError, match="OCI_RESOURCE_PRINCIPAL_VERSION is not set"):
        load_credentials(cfg)
    assert len(preflight(cfg)) == 1


def test_instance_principal_off_oci_fails_fast(fake: FakeOci, monkeypatch: pytest.MonkeyPatch) -> None:
    """A metadata service that refuses: one attempt, no SDK retries, one line, and
    transient: a page waiting on these credentials is retried, not dead-lettered."""
    monkeypatch.setenv("OCI_METADATA_BASE_URL", f"{fake.url}/opc/v2")
    cfg = parse_oci_config({"auth": "instance_principal", "auth_timeout": "5s"})
    started = time.monotonic()
    with pytest.raises(AuthError) as info:
        load_credentials(cfg)
    assert time.monotonic() - started < 3
    assert str(info.value).startswith("oci: instance principal unavailable: ")
    assert info.value.transient
    assert len(fake.calls("/opc/v2")) == 1  # no retries


def test_instance_principal_hang_is_bounded(fake: FakeOci, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCI_METADATA_BASE_URL", f"{fake.url}/opc/v2")
    fake.hang_next(5, path_contains="/opc/v2")
    cfg = parse_oci_config({"auth": "instance_principal", "auth_timeout": "500ms"})
    started = time.monotonic()
    with pytest.raises(AuthError) as info:
        load_credentials(cfg)
    assert time.monotonic() - started < 2
    assert "no answer within 0.5s" in str(info.value) and info.value.transient


def test_preflight_flags_values_that_are_not_ocids(make_cfg: Any) -> None:
    cfg = make_cfg(monitoring={"queries": [{**QUERY, "compartment_id": "my-compartment"}]})
    assert preflight(cfg) == [
        "oci.monitoring.queries[0].compartment_id: 'my-compartment' does not look like an OCID"
    ]


def test_connect_check_passes_against_a_healthy_endpoint(fake: FakeOci, make_cfg: Any) -> None:
    cfg = make_cfg(
        monitoring={"queries": [QUERY]},
        alarms={"compartment_id": QUERY["compartment_id"]},
        notifiers={"ons": {"topics": {"default": "ocid1.onstopic.oc1..t"}}},
    )
    assert connect_check(cfg, now=time.time(), timeout=2) == []
    paths = [r.path for r in fake.requests]
    assert paths == [
        "/20180401/metrics/actions/summarizeMetricsData",
        "/20180401/alarms/status",
        "/20181201/topics/ocid1.onstopic.oc1..t",
    ]
    assert fake.published == []  # a check never pages anyone


def test_connect_check_reports_rejected_credentials(
    fake: FakeOci, make_cfg: Any, creds: FakeCredentials
) -> None:
    fake.forget_keys()
    cfg = make_cfg(monitoring={"queries": [QUERY]})
    (problem,) = connect_check(cfg, now=time.time(), timeout=2)
    assert problem.startswith("oci: monitoring query api_cpu: HTTP 401 NotAuthenticated")
    assert f"profile 'DEFAULT' in {creds.config_file}" in problem
    assert "\n" not in problem


def test_connect_check_with_missing_config_is_one_line(tmp_path: Path) -> None:
    cfg = parse_oci_config({"config_file": str(tmp_path / "missing")})
    assert connect_check(cfg, now=time.time()) == [
        f"oci: config file {tmp_path / 'missing'} not found (auth: config_file)"
    ]


def test_importing_triaged_cloud_does_not_import_the_sdk() -> None:
    code = (
        "import triaged.cloud.config, triaged.cloud.auth, triaged.cloud.clients, "
        "triaged.cloud.ratelimit, triaged.cloud.heartbeat, triaged.sources.oci_monitoring, "
        "triaged.sources.oci_alarms, triaged.notifiers.oci_ons, triaged.testing.fake_oci; "
        "import sys; assert 'oci' not in sys.modules, 'oci imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


def test_fake_can_skip_signature_verification(make_cfg: Any, wrong_key: Any, tmp_path: Path) -> None:
    from triaged.cloud.clients import ClientFactory
    from triaged.testing.fake_oci import write_credentials

    untrusted = write_credentials(tmp_path / "other", key=wrong_key)
    with FakeOci(verify_signatures=False) as lax:
        cfg = make_cfg(
            config_file=str(untrusted.config_file),
            endpoints={"notification": lax.url},
        )
        client = ClientFactory(cfg).notification_control()
        assert client.get_topic("ocid1.onstopic.oc1..t").data.topic_id == "ocid1.onstopic.oc1..t"
        assert lax.requests[0].verified is None


def test_triaged_check_names_the_config_file_on_an_oci_problem(tmp_path: Path) -> None:
    """Every line `triaged check` prints starts with the file it is about, OCI's too."""
    from click.testing import CliRunner

    from triaged.cli import cli

    missing = tmp_path / "missing"
    (tmp_path / "a.rules.yml").write_text("groups: []\n")
    cfg = tmp_path / "triaged.yaml"
    cfg.write_text(
        "storage: {db: t.db}\nrule_files: [a.rules.yml]\n"
        f"oci:\n  config_file: '{missing}'\n  monitoring:\n    queries:\n"
        "      - {name: api_cpu, namespace: oci_computeagent, query: 'CpuUtilization[1m].mean()',"
        " compartment_id: ocid1.compartment.oc1..aaaatest}\n"
    )
    result = CliRunner().invoke(cli, ["check", "--config", str(cfg)])
    assert result.exit_code == 1
    assert f"{cfg}: oci: config file {missing} not found (auth: config_file)" in result.output
