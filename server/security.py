"""Host and Origin validation for every HTTP route (DNS-rebinding protection, MCP spec "MUST validate Origin").

The MCP SDK checks Host and Origin on ``/mcp`` only (``mcp.server.transport_security``); this ASGI guard
applies the same allow-lists (``MCP_ALLOWED_HOSTS``, ``MCP_ALLOWED_ORIGINS``) to the whole app, so
``/health``, REST and the short path for ``tools/call`` are covered too. It sits in front of the SDK and
accepts nothing the SDK refuses, so every route answers a request the same way (421 for the Host, 403
for the Origin):

- a value matches a pattern exactly, or a pattern ``name:*`` and the value ``name:<port digits>``; the
  bare ``name`` does not match ``name:*`` (the SDK's rule), nor does ``name:<not digits>`` (stricter);
- exactly one Host header; at most one Origin header, which must match (an empty one too). The SDK reads
  the first of duplicated headers; refusing duplicates is stricter and leaves no header for a later layer
  to read differently.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["HostOriginGuard", "header_refusal", "matches_allow_list", "split_list"]


def split_list(value: str) -> list[str]:
    """Split a comma-separated setting into its non-empty items."""
    return [item.strip() for item in value.split(",") if item.strip()]


def matches_allow_list(value: str, allowed: Iterable[str]) -> bool:
    """Tell whether ``value`` (a Host or an Origin) matches one of ``allowed`` (exact, or ``name:*`` = any port)."""
    for pattern in allowed:
        if value == pattern:
            return True
        if pattern.endswith(":*"):
            base = pattern[:-2]
            if value.startswith(base + ":") and value[len(base) + 1 :].isdigit():
                return True
    return False


def header_refusal(
    headers: Sequence[tuple[bytes, bytes]], allowed_hosts: Iterable[str], allowed_origins: Iterable[str]
) -> tuple[int, str] | None:
    """The status and message refusing a request with these raw ASGI ``headers``, or ``None`` to accept it.

    Parameters
    ----------
    headers
        The request's header lines as ASGI gives them (lower-case names, duplicates kept).
    allowed_hosts, allowed_origins
        The patterns of ``MCP_ALLOWED_HOSTS`` and ``MCP_ALLOWED_ORIGINS``.
    """
    hosts = [v.decode("latin-1") for k, v in headers if k == b"host"]
    origins = [v.decode("latin-1") for k, v in headers if k == b"origin"]
    if len(hosts) != 1:
        return 421, f"exactly one Host header is required, got {len(hosts)} (MCP_ALLOWED_HOSTS)"
    if not matches_allow_list(hosts[0], allowed_hosts):
        return 421, f"Host {hosts[0]!r} is not allowed (MCP_ALLOWED_HOSTS)"
    if len(origins) > 1:
        return 403, f"at most one Origin header is allowed, got {len(origins)} (MCP_ALLOWED_ORIGINS)"
    if origins and not matches_allow_list(origins[0], allowed_origins):
        return 403, f"Origin {origins[0]!r} is not allowed (MCP_ALLOWED_ORIGINS)"
    return None


class HostOriginGuard:
    """Refuse requests whose Host (421) or Origin (403) is not allowed (:func:`header_refusal`)."""

    def __init__(self, app: ASGIApp, *, allowed_hosts: list[str], allowed_origins: list[str]) -> None:
        self.app = app
        self.allowed_hosts = allowed_hosts
        self.allowed_origins = allowed_origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = header_refusal(scope["headers"], self.allowed_hosts, self.allowed_origins)
            if refusal is not None:
                status, message = refusal
                body = {"ok": False, "error": message, "errors": [], "status": status}
                await JSONResponse(body, status_code=status)(scope, receive, send)
                return
        await self.app(scope, receive, send)
