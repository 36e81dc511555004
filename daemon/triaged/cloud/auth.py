"""Credentials for the three OCI auth modes, with one-line errors and bounded waits.

The mode is explicit config (``auth: config_file | instance_principal |
resource_principal``): probing for instance principals off OCI can hang for ~90 s in
the SDK's metadata retries, so we never guess, and bound the one real attempt.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from typing import Any

from triaged.cloud import sdk
from triaged.cloud.config import OciConfig

_RESOURCE_PRINCIPAL_ENV = "OCI_RESOURCE_PRINCIPAL_VERSION"


class AuthError(Exception):
    """Credentials are missing, unreadable or rejected. ``transient`` errors (the
    metadata service did not answer, or answered with an error) may succeed on a
    later attempt; a broken config file or key will not."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(one_line(message))
        self.transient = transient


@dataclass(frozen=True)
class Credentials:
    """What every client needs: a config dict (at least ``region``) and a signer."""

    config: dict[str, Any]
    signer: Any
    region: str


def one_line(text: str, limit: int = 400) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def load_credentials(cfg: OciConfig) -> Credentials:
    """Build the signer for ``cfg.auth``. Raises :class:`AuthError`, never hangs for
    longer than ``cfg.auth_timeout`` (instance principals make network calls)."""
    if cfg.auth == "config_file":
        return _from_config_file(cfg)
    if cfg.auth == "instance_principal":
        return _bounded(cfg, _instance_principal_signer, "instance principal")
    if cfg.auth == "resource_principal":
        if not os.environ.get(_RESOURCE_PRINCIPAL_ENV):
            raise AuthError(
                f"oci: auth resource_principal but {_RESOURCE_PRINCIPAL_ENV} is not set "
                "(only OCI Functions/Container Instances provide it)"
            )
        return _bounded(cfg, _resource_principal_signer, "resource principal")
    raise AuthError(f"oci: unknown auth mode {cfg.auth!r}")


def _config_path(cfg: OciConfig) -> str:
    return os.path.expanduser(cfg.config_file)


def _read_profile(cfg: OciConfig) -> dict[str, Any]:
    oci = sdk()

    path = _config_path(cfg)
    # Checked here because the SDK silently falls back to OCI_CONFIG_FILE and
    # ~/.oraclebmc/config, which would hide a typo in our own setting.
    if not os.path.isfile(path):
        raise AuthError(f"oci: config file {path} not found (auth: config_file)")
    try:
        config: dict[str, Any] = oci.config.from_file(path, cfg.profile)
    except oci.exceptions.ProfileNotFound:
        raise AuthError(f"oci: profile {cfg.profile!r} not found in {path}") from None
    except (oci.exceptions.ClientError, ValueError, OSError) as exc:
        raise AuthError(f"oci: cannot read profile {cfg.profile!r} in {path}: {exc}") from None
    if cfg.region:
        config["region"] = cfg.region
    try:
        oci.config.validate_config(config)
    except oci.exceptions.InvalidConfig as exc:
        problems = ", ".join(f"{k} {v}" for k, v in dict(exc.args[0]).items())
        raise AuthError(f"oci: profile {cfg.profile!r} in {path} is invalid: {problems}") from None
    return config


def _from_config_file(cfg: OciConfig) -> Credentials:
    oci = sdk()

    config = _read_profile(cfg)
    key_file = os.path.expanduser(str(config.get("key_file", "")))
    try:
        signer = oci.signer.Signer(
            config["tenancy"],
            config["user"],
            config["fingerprint"],
            private_key_file_location=key_file,
            pass_phrase=config.get("pass_phrase"),
        )
    except (oci.exceptions.ClientError, ValueError, TypeError, OSError) as exc:
        raise AuthError(
            f"oci: cannot load key_file {key_file} of profile {cfg.profile!r}: {type(exc).__name__}: {exc}"
        ) from None
    return Credentials(config=config, signer=signer, region=str(config["region"]))


def _instance_principal_signer() -> Any:
    oci = sdk()

    none = oci.retry.NoneRetryStrategy()
    return oci.auth.signers.InstancePrincipalsSecurityTokenSigner(
        retry_strategy=none, federation_client_retry_strategy=none
    )


def _resource_principal_signer() -> Any:
    oci = sdk()

    return oci.auth.signers.get_resource_principals_signer()


def _bounded(cfg: OciConfig, build: Any, what: str) -> Credentials:
    """Run a network-bound signer constructor with a wall-clock guard.

    The SDK hard-codes (10 s, 60 s) socket timeouts for the metadata service, so a
    thread is the only way to bound it. A thread that outlives the guard is a daemon
    thread and dies with the process."""
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["signer"] = build()
        # A boundary: the SDK raises assorted types here (ServiceError, requests
        # errors, ValueError); all mean "no credentials" and are reported as one line.
        except Exception as exc:
            result["error"] = exc

    thread = threading.Thread(target=run, name=f"oci-{what.replace(' ', '-')}", daemon=True)
    thread.start()
    thread.join(cfg.auth_timeout)
    if thread.is_alive():
        raise AuthError(
            f"oci: {what}: no answer within {cfg.auth_timeout:g}s "
            "(not running on OCI? use auth: config_file)",
            transient=True,
        )
    if "error" in result:
        # The metadata service or federation answering 5xx, refusing, resetting: what
        # a later attempt may well get past. Transient, so a page waiting on these
        # credentials is retried by the outbox instead of dead-lettered at once.
        exc = result["error"]
        raise AuthError(f"oci: {what} unavailable: {type(exc).__name__}: {exc}", transient=True)
    signer = result["signer"]
    region = cfg.region or str(getattr(signer, "region", "") or "")
    if not region:
        raise AuthError(f"oci: {what}: region unknown; set oci.region")
    return Credentials(config={"region": region}, signer=signer, region=region)


# -- checks for `triaged check` ----------------------------------------------------------


def preflight(cfg: OciConfig) -> list[str]:
    """Problems found without touching the network: missing file, bad profile, bad
    key, missing region, an environment that cannot provide the chosen principal."""
    problems: list[str] = []
    try:
        sdk()
    except ImportError:
        return ["oci: the oci SDK is not installed (pip install 'triaged[oci]')"]
    if cfg.auth == "config_file":
        try:
            _from_config_file(cfg)
        except AuthError as exc:
            problems.append(str(exc))
    elif cfg.auth == "resource_principal" and not os.environ.get(_RESOURCE_PRINCIPAL_ENV):
        problems.append(f"oci: auth resource_principal but {_RESOURCE_PRINCIPAL_ENV} is not set")
    problems.extend(_ocid_problems(cfg))
    return problems


def _ocid_problems(cfg: OciConfig) -> list[str]:
    found: list[tuple[str, str]] = [
        (f"oci.monitoring.queries[{i}].compartment_id", q.compartment_id)
        for i, q in enumerate(cfg.monitoring.queries)
    ]
    if cfg.alarms.enabled:
        found.append(("oci.alarms.compartment_id", cfg.alarms.compartment_id))
    if cfg.heartbeat.enabled:
        found.append(("oci.heartbeat.compartment_id", cfg.heartbeat.compartment_id))
    if cfg.ons is not None:
        found += [(f"oci.notifiers.ons.topics.{k}", v) for k, v in cfg.ons.topics.items()]
    return [f"{key}: {value!r} does not look like an OCID" for key, value in found
            if not value.startswith("ocid1.")]  # fmt: skip


def connect_check(cfg: OciConfig, *, now: float, timeout: float = 5.0) -> list[str]:
    """One cheap call per configured service with a short timeout, for
    ``triaged check --connect``. Returns problems, one line each; [] means reachable."""
    # Imported here: clients imports this module at load time.
    from triaged.cloud.clients import ClientFactory, describe_error

    try:
        factory = ClientFactory(cfg, read_timeout=timeout, circuit_breaker=False)
        factory.credentials()  # even with nothing else configured, prove the credentials
        checks = factory.connect_checks(now)
    except AuthError as exc:
        return [str(exc)]
    problems: list[str] = []
    for what, call in checks:
        try:
            call()
        # A boundary: every failure of a check becomes one line for the operator.
        except Exception as exc:
            problems.append(f"oci: {what}: {describe_error(exc, profile=_profile_hint(cfg))}")
    return problems


def _profile_hint(cfg: OciConfig) -> str:
    if cfg.auth == "config_file":
        return f"profile {cfg.profile!r} in {_config_path(cfg)}"
    return cfg.auth.replace("_", " ")
