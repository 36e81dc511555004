"""SQLite persistence via sqlite-utils: schema migrations and every SQL statement."""

from triaged.store.db import Store, open_store

__all__ = ["Store", "open_store"]
