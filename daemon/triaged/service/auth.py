"""The API's bearer token: where it comes from and how a request is checked.

The token is read from a file (preferred: the file can be ``root:triaged 0640``) or an
environment variable, never from the config file itself, so the config can be shared
and checked into git. Comparison is constant-time, and the value is registered with
the log redactor so no log line can carry it.
"""

from __future__ import annotations

import hmac
import os
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
