"""Exceptions that cross layers. Kept tiny on purpose."""

from __future__ import annotations


class ConfigError(Exception):
    """A problem in a config or rule file, located as ``file:line: message``."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line

    def __str__(self) -> str:
        where = self.file or "<config>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        return f"{where}: {self.message}"
