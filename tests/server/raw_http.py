"""One HTTP/1.1 response read off a raw socket, for the tests that drive the server's connection caps byte by byte."""

from __future__ import annotations

import socket


def read_response(sock: socket.socket) -> tuple[int, dict[bytes, bytes], bytes]:
    """Read one response with a Content-Length from ``sock``: its status, headers (names lower-cased) and body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = dict(line.lower().split(b": ", 1) for line in lines[1:])
    while len(body) < int(headers[b"content-length"]):
        chunk = sock.recv(65536)
        assert chunk, "closed inside the body"
        body += chunk
    return int(lines[0].split()[1]), headers, body
