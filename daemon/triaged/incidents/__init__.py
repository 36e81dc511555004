"""Incident lifecycle: open, join, escalate, resolve, reopen, human transitions."""
