"""The Host/Origin guard and the bearer check as ASGI apps in this process: every refusal's status, body and
message, and what passes through (the same rules over a real socket: ``tests/security/``)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from starlette.types import Receive, Scope, Send

from server.auth import BearerAuth
from server.security import HostOriginGuard, header_refusal, matches_allow_list, split_list

HOSTS = ["127.0.0.1:*", "localhost:*", "testserver"]
ORIGINS = ["http://127.0.0.1:*", "https://app.example"]


async def _inner(scope: Scope, receive: Receive, send: Send) -> None:
    """The app behind the guard: answers 200 with the request body it reads (``inner`` for none), records any
    other scope."""
    if scope["type"] != "http":
        scope["reached"] = True
        return
    body = (await receive())["body"]
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": body or b"inner"})


async def _call(app: Any, headers: list[tuple[bytes, bytes]], path: str = "/api/v1/x",
                body: bytes = b"") -> tuple[int, dict, bytes]:
    """Send one request with ``body`` through ``app``; return the status, the response headers and the body."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], {k.decode(): v.decode() for k, v in start["headers"]}, body


def _guard() -> HostOriginGuard:
    return HostOriginGuard(_inner, allowed_hosts=HOSTS, allowed_origins=ORIGINS)


def test_a_setting_is_split_into_its_non_empty_trimmed_items():
    assert split_list(" a.example , b:* ,, ,c") == ["a.example", "b:*", "c"]
    assert split_list("") == [] and split_list(" , ") == []


@pytest.mark.parametrize(
    ("value", "allowed"),
    [("testserver", True), ("127.0.0.1:8000", True), ("localhost:1", True), ("127.0.0.1:*", True),
     ("127.0.0.1", False), ("127.0.0.1:", False), ("127.0.0.1:80a", False), ("127.0.0.1:-80", False),
     ("127.0.0.10:80", False), ("x127.0.0.1:80", False), ("testserver:80", False), ("TESTSERVER", False),
     ("localhost.evil:80", False), ("", False)],
)  # fmt: skip
def test_a_value_matches_a_pattern_exactly_or_a_name_with_any_port_digits(value, allowed):
    assert matches_allow_list(value, HOSTS) is allowed


def test_a_later_pattern_still_matches_after_earlier_ones_do_not():
    assert matches_allow_list("c:1", ["a", "b:*", "c:*"]) is True
    assert matches_allow_list("c", ["a:*", "b", "c"]) is True
    assert matches_allow_list("c", []) is False


@pytest.mark.parametrize(
    ("headers", "refusal"),
    [([], (421, "exactly one Host header is required, got 0 (MCP_ALLOWED_HOSTS)")),
     ([(b"host", b"testserver"), (b"host", b"testserver")],
      (421, "exactly one Host header is required, got 2 (MCP_ALLOWED_HOSTS)")),
     ([(b"host", b"evil.example")], (421, "Host 'evil.example' is not allowed (MCP_ALLOWED_HOSTS)")),
     ([(b"host", b"caf\xe9:80")], (421, "Host 'caf\xe9:80' is not allowed (MCP_ALLOWED_HOSTS)")),
     ([(b"host", b"testserver"), (b"origin", b"https://app.example"), (b"origin", b"https://app.example")],
      (403, "at most one Origin header is allowed, got 2 (MCP_ALLOWED_ORIGINS)")),
     ([(b"host", b"testserver"), (b"origin", b"https://evil.example")],
      (403, "Origin 'https://evil.example' is not allowed (MCP_ALLOWED_ORIGINS)")),
     ([(b"host", b"testserver"), (b"origin", b"")], (403, "Origin '' is not allowed (MCP_ALLOWED_ORIGINS)")),
     ([(b"host", b"testserver"), (b"origin", b"http://\xe9vil")],
      (403, "Origin 'http://\xe9vil' is not allowed (MCP_ALLOWED_ORIGINS)")),
     ([(b"host", b"evil.example"), (b"origin", b"https://evil.example")],
      (421, "Host 'evil.example' is not allowed (MCP_ALLOWED_HOSTS)")),
     ([(b"host", b"testserver")], None), ([(b"host", b"127.0.0.1:9")], None),
     ([(b"host", b"testserver"), (b"origin", b"http://127.0.0.1:3000")], None),
     ([(b"x-host", b"evil"), (b"host", b"testserver"), (b"x-origin", b"evil")], None)],
)  # fmt: skip
def test_each_header_refusal_has_its_status_and_message(headers, refusal):
    assert header_refusal(headers, HOSTS, ORIGINS) == refusal


@pytest.mark.anyio
async def test_the_guard_answers_a_refusal_in_the_one_error_shape():
    status, headers, body = await _call(_guard(), [(b"host", b"evil.example")])
    assert status == 421 and headers["content-type"] == "application/json"
    assert orjson.loads(body) == {"ok": False, "error": "Host 'evil.example' is not allowed (MCP_ALLOWED_HOSTS)",
                                  "errors": [], "status": 421}  # fmt: skip
    status, _, body = await _call(_guard(), [(b"host", b"testserver"), (b"origin", b"null")])
    assert status == 403 and orjson.loads(body)["status"] == 403


@pytest.mark.anyio
async def test_the_guard_passes_allowed_requests_and_other_scopes_through():
    assert await _call(_guard(), [(b"host", b"localhost:8000")]) == (200, {"content-type": "text/plain"}, b"inner")
    scope: dict[str, Any] = {"type": "lifespan"}
    await _guard()(scope, None, None)  # type: ignore[arg-type]
    assert scope["reached"] is True


def _auth() -> BearerAuth:
    return BearerAuth(_inner, token="s3cret", open_paths=frozenset({"/health"}))


@pytest.mark.anyio
@pytest.mark.parametrize(
    "supplied", [None, b"Bearer wrong", b"s3cret", b"bearer s3cret", b"Bearer s3cret ", b"Bearer s3cre", b""]
)
async def test_a_missing_or_wrong_token_gets_401_with_a_challenge(supplied):
    headers = [] if supplied is None else [(b"authorization", supplied)]
    status, response_headers, body = await _call(_auth(), headers)
    assert status == 401 and response_headers["www-authenticate"] == 'Bearer realm="microstructure"'
    assert orjson.loads(body) == {"ok": False, "error": "missing or wrong bearer token", "errors": [], "status": 401}


@pytest.mark.anyio
async def test_the_right_token_open_paths_and_other_scopes_pass():
    assert (await _call(_auth(), [(b"authorization", b"Bearer s3cret")]))[0] == 200
    assert (await _call(_auth(), [(b"authorization", b"Bearer s3cret")], body=b"posted"))[2] == b"posted"
    assert (await _call(_guard(), [(b"host", b"testserver")], body=b"posted"))[2] == b"posted"
    assert (await _call(_auth(), [], path="/health"))[0] == 200
    assert (await _call(_auth(), [], path="/health/"))[0] == 401  # open paths match exactly
    scope: dict[str, Any] = {"type": "lifespan"}
    await _auth()(scope, None, None)  # type: ignore[arg-type]
    assert scope["reached"] is True
