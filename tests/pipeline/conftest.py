from __future__ import annotations

from pipeline.harness import make_harness, receiver

__all__ = ["make_harness", "receiver"]
