"""The systemd notification protocol (sd_notify), spoken directly over the socket.

The protocol is one datagram of ``KEY=VALUE`` lines sent to the ``AF_UNIX`` socket
named in ``$NOTIFY_SOCKET`` (a leading ``@`` means Linux's abstract namespace). It is
small enough that a dependency would cost more than it saves. Outside systemd the
variable is unset and every call is a no-op, so the same code runs in a terminal.
"""

from __future__ import annotations

import os
import socket
import threading
import time

import structlog

log = structlog.get_logger("triaged.sdnotify")


class SdNotifier:
    def __init__(self, address: str | None) -> None:
        self.address = address or None
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._failed = False

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> SdNotifier:
        env = os.environ if environ is None else environ
        return cls(env.get("NOTIFY_SOCKET"))

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, **fields: str | int) -> bool:
        """Send one message; returns whether it was sent. Never raises: losing a status
        line must not take the daemon down (systemd will notice missing READY/WATCHDOG)."""
        if self.address is None:
            return False
        text = "\n".join(f"{key.upper()}={value}" for key, value in fields.items())
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        with self._lock:
            try:
                if self._sock is None:
                    # Non-blocking: a manager that stops reading fills the socket's queue
                    # (ten datagrams by default), and a blocking send would then hang the
                    # watchdog thread, or the main thread at READY/STOPPING, for good.
                    self._sock = socket.socket(
                        socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK
                    )
                self._sock.sendto(text.encode(), target)
            except OSError as exc:
                if not self._failed:  # log once, not once per watchdog ping
                    log.warning("sd_notify_failed", error=str(exc))
                self._failed = True
                return False
        self._failed = False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify(ready=1, status=status) if status else self.notify(ready=1)

    def reloading(self) -> bool:
        # MONOTONIC_USEC lets systemd (Type=notify-reload) tell this reload from an older one.
        return self.notify(reloading=1, monotonic_usec=time.monotonic_ns() // 1000)

    def stopping(self, status: str = "") -> bool:
        return self.notify(stopping=1, status=status) if status else self.notify(stopping=1)

    def watchdog(self) -> bool:
        return self.notify(watchdog=1)

    def status(self, text: str) -> bool:
        return self.notify(status=text)

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None


def watchdog_interval(environ: dict[str, str] | None = None) -> float | None:
    """The watchdog timeout systemd asked for (``WatchdogSec=``), in seconds, or None.

    ``WATCHDOG_PID`` names the process that must ping; if it is another process (a
    wrapper script exec'd us under a different pid) the request is not for us."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None
    return int(usec) / 1_000_000
