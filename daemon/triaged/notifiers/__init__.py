"""Delivery channels. Each one classifies its own failures; the outbox decides."""
