"""A built-in stand-in for the BharatMart API, for ``triaged demo``/``simulate`` and tests.

>>> with Simulator(environment="staging", seed=1) as sim:   # doctest: +SKIP
...     sim.set_faults(latency_ms=600)
...     requests.get(f"{sim.url}/metrics")
"""

from triaged.simulator.cli import run_simulator
from triaged.simulator.faults import FaultError, Faults
from triaged.simulator.simulator import Simulator

__all__ = ["FaultError", "Faults", "Simulator", "run_simulator"]
