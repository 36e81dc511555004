"""Bounded in-memory time series storage."""

from triaged.tsdb.storage import Series, SeriesSource, Storage, StorageLimits

__all__ = ["Series", "SeriesSource", "Storage", "StorageLimits"]
