"""Between rules and incidents: silence, inhibit, group."""
