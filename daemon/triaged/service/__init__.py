"""Running triaged as a service: systemd notify and watchdog, the HTTP API and
self-metrics, the dead-man's switch, preflight checks, reload and graceful stop."""
