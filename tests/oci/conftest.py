"""Fixtures for the OCI tests: a fake OCI endpoint, a throwaway API key, clients.

The real ``oci`` SDK is used throughout, pointed at 127.0.0.1; proxies are bypassed
so a CI proxy can never swallow the fake's traffic.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from triaged.cloud.clients import ClientFactory, reset_circuit_breakers
from triaged.cloud.config import OciConfig
from triaged.cloud.parse_config import parse_oci_config
from triaged.testing.fake_oci import FakeCredentials, FakeOci, generate_key

os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"

# No __init__.py in this directory on purpose: a package named ``oci`` would
# shadow the SDK. Helpers are therefore fixtures, not importable names.

MakeCfg = Callable[..., OciConfig]


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return generate_key()


@pytest.fixture(scope="session")
def wrong_key() -> rsa.RSAPrivateKey:
    return generate_key()


@pytest.fixture(autouse=True)
def _closed_breakers() -> Iterator[None]:
    """Circuit breakers are process-global in the SDK: start and end every test
    with all of them closed so one test's 500s cannot fail the next test."""
    reset_circuit_breakers("")
    yield
    reset_circuit_breakers("")


@pytest.fixture
def fake() -> Iterator[FakeOci]:
    with FakeOci() as server:
        yield server


@pytest.fixture
def creds(fake: FakeOci, tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> FakeCredentials:
    return fake.make_credentials(tmp_path / "oci", key=rsa_key)


@pytest.fixture
def make_cfg(fake: FakeOci, creds: FakeCredentials) -> MakeCfg:
    """Build an OciConfig for the fake from the raw ``oci:`` keys given."""

    def make(**extra: Any) -> OciConfig:
        raw: dict[str, Any] = {
            "auth": "config_file",
            "config_file": str(creds.config_file),
            "profile": creds.profile,
            "timeouts": {"connect": "2s", "read": "2s"},
            "endpoints": {"monitoring": fake.url, "notification": fake.url},
        }
        raw.update(extra)
        return parse_oci_config(raw)

    return make


@pytest.fixture
def cfg(make_cfg: MakeCfg) -> OciConfig:
    return make_cfg()


@pytest.fixture
def factory(cfg: OciConfig) -> ClientFactory:
    return ClientFactory(cfg)
