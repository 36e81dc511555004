"""Request signing for the fake OCI endpoint: throwaway API keys, the OCI config file
that points the real SDK at them, and verification of the SDK's RSA-SHA256 signatures
exactly as OCI checks them (signed headers, body hash, a 5 minute date window).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

MAX_DATE_SKEW_S = 300
_AUTH_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class FakeCredentials:
    """A throwaway API key and the OCI config file that names it."""

    config_file: Path
    key_file: Path
    profile: str
    tenancy: str
    user: str
    fingerprint: str
    region: str
    private_key: rsa.RSAPrivateKey

    @property
    def key_id(self) -> str:
        return f"{self.tenancy}/{self.user}/{self.fingerprint}"


def generate_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def fingerprint(key: rsa.RSAPrivateKey) -> str:
    """OCI's key fingerprint: MD5 of the DER SubjectPublicKeyInfo, colon-separated."""
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashlib.md5(der).hexdigest()  # OCI defines the fingerprint this way
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def write_credentials(
    directory: Path,
    *,
    key: rsa.RSAPrivateKey | None = None,
    profile: str = "DEFAULT",
    region: str = "ap-mumbai-1",
) -> FakeCredentials:
    """Write ``key.pem`` and ``config`` (one profile) into ``directory``."""
    key = key or generate_key()
    directory.mkdir(parents=True, exist_ok=True)
    key_file = directory / f"key-{profile.lower()}.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)
    tenancy = "ocid1.tenancy.oc1..aaaafaketenancy"
    user = f"ocid1.user.oc1..aaaafake{profile.lower()}"
    fp = fingerprint(key)
    config_file = directory / "config"
    with config_file.open("a", encoding="utf-8") as fh:
        fh.write(
            f"[{profile}]\nuser={user}\nfingerprint={fp}\ntenancy={tenancy}\n"
            f"region={region}\nkey_file={key_file}\n\n"
        )
    return FakeCredentials(config_file, key_file, profile, tenancy, user, fp, region, key)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    raw_query: str = ""
    status: int = 0
    verified: bool | None = None  # None: verification switched off

    def json(self) -> Any:
        return json.loads(self.body or b"null")


def verify_signature(req: RecordedRequest, keys: dict[str, rsa.RSAPublicKey]) -> str | None:
    auth = req.headers.get("authorization", "")
    if not auth.startswith("Signature "):
        return "missing Signature authorization"
    params = dict(_AUTH_PARAM.findall(auth))
    key = keys.get(params.get("keyId", ""))
    if key is None:
        return f"unknown keyId {params.get('keyId', '')!r}"
    if params.get("algorithm") != "rsa-sha256":
        return "unsupported algorithm"
    signed = params.get("headers", "").split()
    required = ["date", "(request-target)", "host"]
    if req.method in ("POST", "PUT"):
        required += ["content-length", "content-type", "x-content-sha256"]
    if missing := [h for h in required if h not in signed]:
        return f"unsigned headers: {' '.join(missing)}"
    problem = _check_body_and_date(req)
    if problem:
        return problem
    target = req.path + (f"?{req.raw_query}" if req.raw_query else "")
    lines = []
    for name in signed:
        if name == "(request-target)":
            lines.append(f"(request-target): {req.method.lower()} {target}")
        elif name in req.headers:
            lines.append(f"{name}: {req.headers[name]}")
        else:
            return f"signed header {name} missing"
    try:
        key.verify(
            base64.b64decode(params.get("signature", "")),
            "\n".join(lines).encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except (InvalidSignature, ValueError):
        return "signature mismatch"
    return None


def _check_body_and_date(req: RecordedRequest) -> str | None:
    if req.method in ("POST", "PUT"):
        digest = base64.b64encode(hashlib.sha256(req.body).digest()).decode()
        if req.headers.get("x-content-sha256") != digest:
            return "x-content-sha256 does not match the body"
        if req.headers.get("content-length") != str(len(req.body)):
            return "content-length does not match the body"
    try:
        sent = parsedate_to_datetime(req.headers.get("date", "")).timestamp()
    except (TypeError, ValueError):
        return "bad date header"
    if abs(time.time() - sent) > MAX_DATE_SKEW_S:
        return "date header outside the 5 minute window"
    return None
