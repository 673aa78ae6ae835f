"""``serve --transport stdio`` while another process owns the database: stdio <-> that process's ``/mcp``.

DuckDB lets one process hold a file, so a stdio client (Claude Desktop) started while ``demo`` or ``up``
runs cannot open it. Instead it talks to the owner: each JSON-RPC line read from stdin is POSTed to the
owner's ``/mcp`` (stateless, JSON answers; ``MCP_AUTH_TOKEN`` as bearer) and the answer is written to
stdout as one line. Requests run concurrently and answers go out as they arrive.

The SDK's streamable-HTTP client transport is not used: a failed connection there ends its task group, so
a stdio client would lose its session when the owner restarts. Here each request that cannot be delivered
(owner gone, refused token, not JSON) is answered with a JSON-RPC error naming the cause, never a hang, and
the bridge keeps reading. A per-request protocol envelope (``params._meta``, the 2026 revision) is mirrored
into the ``MCP-Protocol-Version``/``Mcp-Method``/``Mcp-Name`` headers the HTTP transport checks; for earlier
revisions the version negotiated by ``initialize`` is sent on every later request.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any, BinaryIO

import httpx2
import orjson
from mcp.shared.inbound import MCP_METHOD_HEADER, MCP_NAME_HEADER, NAME_BEARING_METHODS, encode_header_value
from mcp_types import PROTOCOL_VERSION_META_KEY

__all__ = ["bridge_stdio"]

log = logging.getLogger("microstructure.stdio_bridge")

_PROTOCOL_HEADER = "mcp-protocol-version"
_SESSION_HEADER = "mcp-session-id"
_PARSE_ERROR, _INVALID_REQUEST, _INTERNAL_ERROR = -32700, -32600, -32603


class _Bridge:
    """One stdio session forwarded to ``url``."""

    def __init__(self, url: str, token: str | None, timeout_s: float, out: BinaryIO) -> None:
        self.url = url
        self.out = out
        self.headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
        if token:
            self.headers["authorization"] = f"Bearer {token}"
        self.client = httpx2.AsyncClient(timeout=httpx2.Timeout(timeout_s, connect=5.0))
        self.write_lock = asyncio.Lock()

    async def emit(self, message: Any) -> None:
        """Write one JSON-RPC message as a line on stdout."""
        async with self.write_lock:
            self.out.write(orjson.dumps(message) + b"\n")
            self.out.flush()

    async def fail(self, request_id: Any, code: int, text: str) -> None:
        await self.emit({"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": text}})

    def _headers_for(self, message: dict[str, Any]) -> dict[str, str]:
        headers = dict(self.headers)
        params = message.get("params")
        meta = params.get("_meta") if isinstance(params, dict) else None
        if isinstance(meta, dict) and isinstance(meta.get(PROTOCOL_VERSION_META_KEY), str):
            method = str(message.get("method"))
            headers[_PROTOCOL_HEADER] = meta[PROTOCOL_VERSION_META_KEY]
            headers[MCP_METHOD_HEADER] = method
            name = params.get(NAME_BEARING_METHODS.get(method, ""))  # type: ignore[union-attr]
            if isinstance(name, str):
                headers[MCP_NAME_HEADER] = encode_header_value(name)
        return headers

    async def forward(self, message: dict[str, Any]) -> None:
        """POST one message; write what answers it (or an error when it cannot be delivered)."""
        request_id = message.get("id")
        is_request = "method" in message and request_id is not None
        try:
            response = await self.client.post(self.url, content=orjson.dumps(message),
                                              headers=self._headers_for(message))  # fmt: skip
            body = await response.aread()
        except httpx2.HTTPError as exc:
            if is_request:
                await self.fail(request_id, _INTERNAL_ERROR, f"the microstructure server at {self.url} did not "
                                f"answer ({type(exc).__name__}: {exc}); is it still running?")  # fmt: skip
            else:
                log.warning("could not deliver %s to %s: %s", message.get("method", "a response"), self.url, exc)
            return
        if message.get("method") == "initialize" and response.status_code == 200:
            self._adopt_session(response, body)
        if not is_request:
            return
        answers = self._answers(response, body)
        if not answers:
            await self.fail(request_id, _INTERNAL_ERROR if response.status_code >= 400 else _INVALID_REQUEST,
                            self._status_text(response.status_code))  # fmt: skip
        for answer in answers:
            if response.status_code >= 400 and isinstance(answer, dict) and "error" in answer:
                answer = {**answer, "id": request_id}  # a server may reject before reading the id
            await self.emit(answer)

    def _status_text(self, status: int) -> str:
        if status == 401:
            return f"the microstructure server at {self.url} refused the token: set MCP_AUTH_TOKEN to its token"
        if status == 202:
            return f"the microstructure server at {self.url} accepted the request without answering it"
        return f"the microstructure server at {self.url} answered HTTP {status}"

    def _adopt_session(self, response: httpx2.Response, body: bytes) -> None:
        """Remember the negotiated protocol version (and a session id, if the server keeps sessions)."""
        if session := response.headers.get(_SESSION_HEADER):
            self.headers[_SESSION_HEADER] = session
        for answer in self._answers(response, body):
            version = answer.get("result", {}).get("protocolVersion") if isinstance(answer, dict) else None
            if isinstance(version, str):
                self.headers[_PROTOCOL_HEADER] = version

    @staticmethod
    def _answers(response: httpx2.Response, body: bytes) -> list[Any]:
        """The JSON-RPC messages in a JSON or server-sent-events body (none when it holds none)."""
        content_type = response.headers.get("content-type", "").lower()
        try:
            if content_type.startswith("application/json"):
                parsed = orjson.loads(body)
                candidates = parsed if isinstance(parsed, list) else [parsed]
            elif content_type.startswith("text/event-stream"):
                candidates = [orjson.loads(line[5:]) for line in body.splitlines() if line.startswith(b"data:")
                              and line[5:].strip()]  # fmt: skip
            else:
                return []
        except orjson.JSONDecodeError:
            return []
        return [c for c in candidates if isinstance(c, dict) and c.get("jsonrpc") == "2.0"]


async def _read_lines(stream: BinaryIO) -> Any:
    while True:
        line = await asyncio.to_thread(stream.readline)
        if not line:
            return
        yield line


async def bridge_stdio(url: str, *, token: str | None, timeout_s: float, stdin: BinaryIO | None = None,
                       stdout: BinaryIO | None = None) -> None:
    """Forward JSON-RPC lines between stdin/stdout and the MCP endpoint ``url`` until stdin closes.

    Parameters
    ----------
    url
        The owner's MCP endpoint, e.g. ``http://127.0.0.1:8080/mcp``.
    token
        Sent as ``Authorization: Bearer`` when set (``MCP_AUTH_TOKEN``).
    timeout_s
        How long one request may wait for its answer before it is answered with an error.
    stdin, stdout
        Binary streams (default: the process's).
    """
    bridge = _Bridge(url, token, timeout_s, stdout or sys.stdout.buffer)
    pending: set[asyncio.Task[None]] = set()
    try:
        async for line in _read_lines(stdin or sys.stdin.buffer):
            if not line.strip():
                continue
            try:
                message = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                await bridge.fail(None, _PARSE_ERROR, f"not JSON: {exc}")
                continue
            if not isinstance(message, dict):
                await bridge.fail(None, _INVALID_REQUEST, "expected one JSON-RPC message (an object) per line")
                continue
            task = asyncio.create_task(bridge.forward(message))
            pending.add(task)
            task.add_done_callback(pending.discard)
        if pending:
            await asyncio.wait(pending)
    finally:
        await bridge.client.aclose()
