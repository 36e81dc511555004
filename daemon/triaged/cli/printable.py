"""What the CLI prints is made safe for the terminal it lands on.

Titles, labels, annotations and timeline messages come from scraped label values, and
so from whoever controls an exporter: an ESC sequence in one could clear the screen,
recolour or retitle the terminal, or hide text from the on-call reading
``incidents show``. Every control character but newline and tab is shown as a visible
``\\xNN`` escape, on every line the CLI writes to stdout (the CLI prints no colours of
its own). Table cells and one-line fields also show newlines as ``\\n``, so a value
cannot fake rows of its own.
"""

from __future__ import annotations

import sys
from typing import Any

# C0 controls but tab and newline, DEL, and the C1 controls (a lone 0x9b is a CSI).
_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0)) if c not in (0x09, 0x0A)}


def printable(text: str) -> str:
    """``text`` with every control character but newline and tab shown escaped."""
    return text.translate(_CONTROLS)


def one_line(text: str) -> str:
    """``text`` as one line: controls escaped, newlines shown as ``\\n``."""
    return printable(text).replace("\n", "\\n")


class PrintableStream:
    """A text stream that escapes control characters in all it writes. It has no
    ``buffer``, so nothing (click included) can write around it."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        if not isinstance(text, str):  # click probes for a binary stream this way
            raise TypeError("PrintableStream writes text only")
        return int(self._stream.write(printable(text)))

    def __getattr__(self, name: str) -> Any:
        if name == "buffer":
            raise AttributeError(name)
        return getattr(self._stream, name)


def guard_stdout() -> None:
    """Route stdout through :class:`PrintableStream` (once)."""
    if not isinstance(sys.stdout, PrintableStream):
        sys.stdout = PrintableStream(sys.stdout)
