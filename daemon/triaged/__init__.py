"""triaged: incident detection and triage daemon."""

__version__ = "0.1.0"
