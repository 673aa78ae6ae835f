"""Bearer-token check for every HTTP route but ``/health`` when ``MCP_AUTH_TOKEN`` is set.

The token is compared in constant time and never logged. Without ``MCP_AUTH_TOKEN`` the server relies on
binding to 127.0.0.1 (the default) and on the Host/Origin guard.
"""

from __future__ import annotations

import hmac

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["BearerAuth"]


class BearerAuth:
    """Answer 401 unless ``Authorization: Bearer <token>`` matches; ``open_paths`` need no token."""

    def __init__(self, app: ASGIApp, *, token: str, open_paths: frozenset[str]) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in self.open_paths:
            supplied = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(supplied, self._expected):
                response = JSONResponse(
                    {"ok": False, "error": "missing or wrong bearer token", "errors": [], "status": 401},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="microstructure"'},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
