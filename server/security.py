"""Host and Origin validation for every HTTP route (DNS-rebinding protection, MCP spec "MUST validate Origin").

The MCP SDK checks Host and Origin on ``/mcp`` only; this ASGI guard applies the same allow-lists
(``MCP_ALLOWED_HOSTS``, ``MCP_ALLOWED_ORIGINS``) to the whole app, so ``/health`` and every other route
are covered too. A pattern ``name:*`` allows ``name`` on any port, and the bare ``name`` as well.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["HostOriginGuard", "matches_allow_list", "split_list"]


def split_list(value: str) -> list[str]:
    """Split a comma-separated setting into its non-empty items."""
    return [item.strip() for item in value.split(",") if item.strip()]


def matches_allow_list(value: str, allowed: Iterable[str]) -> bool:
    """Tell whether ``value`` (a Host or an Origin) matches one of ``allowed`` (``*`` allows everything)."""
    for pattern in allowed:
        if pattern == "*" or value == pattern:
            return True
        if pattern.endswith(":*"):
            base = pattern[:-2]
            if value == base or (value.startswith(base + ":") and value[len(base) + 1 :].isdigit()):
                return True
    return False


class HostOriginGuard:
    """Refuse requests whose Host (421) or Origin (403) is not allowed."""

    def __init__(self, app: ASGIApp, *, allowed_hosts: list[str], allowed_origins: list[str]) -> None:
        self.app = app
        self.allowed_hosts = allowed_hosts
        self.allowed_origins = allowed_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
            host, origin = headers.get("host", ""), headers.get("origin")
            if not matches_allow_list(host, self.allowed_hosts):
                response = JSONResponse(
                    {"ok": False, "error": f"Host {host!r} is not allowed (MCP_ALLOWED_HOSTS)", "errors": [], "status": 421},
                    status_code=421,
                )
                await response(scope, receive, send)
                return
            if origin is not None and not matches_allow_list(origin, self.allowed_origins):
                response = JSONResponse(
                    {"ok": False, "error": f"Origin {origin!r} is not allowed (MCP_ALLOWED_ORIGINS)", "errors": [], "status": 403},
                    status_code=403,
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
