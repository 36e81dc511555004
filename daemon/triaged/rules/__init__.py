"""Prometheus rule files: parsing, alert state machine, evaluation, unit tests."""
