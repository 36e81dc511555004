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


def describe(exc: BaseException) -> str:
    """``Type: first line of the message``: an exception as one log field or one
    row's last error, whatever its message spans."""
    text = str(exc)
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}".rstrip(": ")
