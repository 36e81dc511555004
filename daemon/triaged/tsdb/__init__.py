"""Bounded in-memory time series storage."""

from triaged.tsdb.series import Floats, Series
from triaged.tsdb.storage import SeriesSource, Storage, StorageLimits

__all__ = ["Floats", "Series", "SeriesSource", "Storage", "StorageLimits"]
