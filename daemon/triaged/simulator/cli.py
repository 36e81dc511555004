"""``triaged simulate``: run the simulator in the foreground until Ctrl-C."""

from __future__ import annotations

import threading

from triaged.simulator.simulator import Simulator


def run_simulator(
    host: str = "127.0.0.1",
    port: int = 3000,
    environment: str = "staging",
    control_port: int | None = None,
    *,
    seed: int = 1,
    traffic_rps: float = 200.0,  # as in the demo, whose short rule windows need it
    stop: threading.Event | None = None,
) -> None:
    """Serve until Ctrl-C (or until ``stop`` is set), printing how to drive it.

    ``control_port=None`` picks a free port for the control listener.
    """
    sim = Simulator(host, port, environment, seed, traffic_rps, control_port=control_port or 0)
    with sim:
        print(_banner(sim), flush=True)
        try:
            (stop or threading.Event()).wait()
        except KeyboardInterrupt:
            print("\nstopping", flush=True)


def _banner(sim: Simulator) -> str:
    ctl = sim.control_url
    return "\n".join(
        [
            f"BharatMart simulator ({sim.faults.environment})",
            f"  metrics:   {sim.url}/metrics",
            f"  health:    {sim.url}/api/health   ready: {sim.url}/api/health/ready",
            f"  control:   {ctl}/control/faults  (stays up while the app is down)",
            "",
            "Inject faults:",
            f"  curl {ctl}/control/faults",
            f"  curl -X POST {ctl}/control/faults -d '{{\"latency_ms\": 600}}'",
            f"  curl -X POST {ctl}/control/faults -d '{{\"payment_failure_ratio\": 0.2}}'",
            f"  curl -X POST {ctl}/control/faults -d '{{\"db_pool_in_use_ratio\": 0.9}}'",
            f"  curl -X POST {ctl}/control/faults -d '{{\"db_down\": true}}'",
            f"  curl -X POST {ctl}/control/faults -d '{{\"down\": true}}'",
            f"  curl -X POST {ctl}/control/reset",
            "Ctrl-C to stop.",
        ]
    )
