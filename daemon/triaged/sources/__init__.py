"""Where samples come from: Prometheus scrapes, HTTP health probes, OCI Monitoring."""
