"""The API's bearer token: where it comes from and how a request is checked.

The token is read from a file (preferred: the file can be ``root:triaged 0640``) or an
environment variable, never from the config file itself, so the config can be shared
and checked into git. Comparison is constant-time, and the value is registered with
the log redactor so no log line can carry it.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import stat
from collections.abc import Mapping
from pathlib import Path

from triaged import log as logsetup

# Shorter tokens are guessable; 32 random bytes hex-encoded is 64 characters.
MIN_TOKEN_CHARS = 16


class TokenError(Exception):
    """No usable token: the file is missing or empty, the variable unset, too short."""


def load_token(token_file: str, token_env: str, environ: Mapping[str, str] | None = None) -> str:
    """The token from ``token_file`` if set, else from ``$token_env``. Raises TokenError
    with a message that names the source but never the value."""
    env = os.environ if environ is None else environ
    if token_file:
        try:
            token = Path(token_file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise TokenError(f"http.token_file {token_file}: cannot read ({exc.strerror})") from None
        except UnicodeDecodeError as exc:  # never echo the bytes: they are the secret
            raise TokenError(
                f"http.token_file {token_file}: not UTF-8 (at offset {exc.start}): write the token as text"
            ) from None
        source = f"http.token_file {token_file}"
    elif token_env:
        token = env.get(token_env, "").strip()
        source = f"http.token_env ${token_env}"
        if not token:
            raise TokenError(f"{source} is not set or empty")
    else:
        raise TokenError("http: set token_file or token_env (the API never runs without a token)")
    if not token:
        raise TokenError(f"{source} is empty")
    if len(token) < MIN_TOKEN_CHARS:
        raise TokenError(f"{source}: token shorter than {MIN_TOKEN_CHARS} characters")
    logsetup.register_secret(token)
    return token


# Permission bits that let any local user read (then ack or resolve incidents with) or
# replace the token. Only "others": the layout documented above, root:triaged 0640,
# is group-readable on purpose (the daemon reads it through its group), so warning on
# group bits would flag the recommended setup.
_OTHERS = stat.S_IRWXO


def token_file_exposure(token_file: str) -> str | None:
    """A warning when ``token_file`` is readable or writable by other users (``chmod
    644`` is umask's default), else None. Only a warning: refusing would stop an
    upgraded daemon that pages, over a file mode. Unreadable files are load_token's
    business."""
    if not token_file:
        return None
    try:
        mode = os.stat(token_file).st_mode
    except OSError:
        return None
    if not mode & _OTHERS:
        return None
    return (
        f"http.token_file {token_file} is readable or writable by other users "
        f"(mode {stat.S_IMODE(mode):04o}): any local user can use the API; chmod o-rwx {token_file}"
    )


def plaintext_listen_warning(host: str) -> str | None:
    """A warning when ``http.listen`` is not a loopback address: the API is plain HTTP,
    so the bearer token crosses the network readable by anyone on the path."""
    if host == "localhost":
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass  # a host name: it may resolve anywhere
    return (
        f"http.listen {host} is not a loopback address: the API is plain HTTP and the token "
        "travels unencrypted; listen on 127.0.0.1 and reach it through SSH or a TLS proxy"
    )


class BearerAuth:
    def __init__(self, token: str) -> None:
        self._token = token.encode()

    def allows(self, authorization: str | None) -> bool:
        """True if the ``Authorization`` header carries our token. Constant-time in the
        token's content, so response timing does not reveal a matching prefix."""
        if not authorization:
            return False
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(presented.strip().encode(), self._token)
