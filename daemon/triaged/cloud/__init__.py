"""Oracle Cloud Infrastructure plumbing: typed config, auth, clients, rate limits.

Importing this package (or any module in it) must not import the ``oci`` SDK: it is
slow to import and optional. Only the functions that talk to OCI import it.
"""

from __future__ import annotations

from typing import Any


def sdk() -> Any:
    """The ``oci`` module, imported on first use. The one lazy import point, so the
    rest of the code says ``oci = sdk()`` inside the paths that talk to OCI."""
    import oci

    return oci


def breakers() -> Any:
    """The ``circuitbreaker`` package the SDK uses (installed with it)."""
    import circuitbreaker  # type: ignore[import-untyped]

    return circuitbreaker
