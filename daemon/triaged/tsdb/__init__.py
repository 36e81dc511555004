"""Bounded in-memory time series storage."""

from triaged.tsdb.storage import Floats, Series, SeriesSource, Storage, StorageLimits

__all__ = ["Floats", "Series", "SeriesSource", "Storage", "StorageLimits"]
