"""Reading an HTTP request off a plain socket, for test servers that misbehave on purpose
(hang up, trickle, stall) after the client has sent everything."""

from __future__ import annotations

import socket


def read_request(conn: socket.socket) -> bool:
    """Read the head and the Content-Length body, however the client's writes were
    split; False if the client closed first. A server that closes with bytes unread
    resets the connection instead of hanging up."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return False
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        ),
        0,
    )
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return False
        body += chunk
    return True
