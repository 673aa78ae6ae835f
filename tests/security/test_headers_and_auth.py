"""Host, Origin and bearer-token probes against a real ``serve`` process, on every kind of route: ``/health``,
REST, the short path for ``tools/call``, the SDK (``tools/list``) and the seed-style body. Every route
answers a probe the same way, and the way the SDK's transport security answers it on ``/mcp``."""

from __future__ import annotations

import json

import pytest

from security.conftest import TOKEN, Server, http_client, raw_request, tools_call

JUMPS = json.dumps(tools_call("get_jump_events", {"limit": 1})).encode()
ROUTES: dict[str, tuple[str, str, dict[str, str], bytes]] = {
    "health": ("GET", "/health", {}, b""),
    "rest": ("GET", "/api/v1/jump-events?limit=1", {}, b""),
    "short path": ("POST", "/mcp", {"Content-Type": "application/json", "Accept": "application/json"}, JUMPS),
    "sdk": ("POST", "/mcp", {"Content-Type": "application/json", "Accept": "application/json"},
            json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode()),
    "seed body": ("POST", "/mcp", {"Content-Type": "application/json"},
                  json.dumps({"method": "get_jump_events", "params": {"limit": 1}, "id": "1"}).encode()),
}


def _send(server: Server, route: str, host_lines: list[str], extra: dict[str, str] | None = None) -> int:
    method, path, headers, body = ROUTES[route]
    head = [f"{method} {path} HTTP/1.1", *host_lines, *(f"{k}: {v}" for k, v in {**headers, **(extra or {})}.items())]
    if body:
        head.append(f"Content-Length: {len(body)}")
    return raw_request(server.port, head, body)[0]


def _host(server: Server) -> str:
    return f"Host: 127.0.0.1:{server.port}"


@pytest.mark.parametrize("route", ROUTES)
def test_an_allowed_host_and_origin_are_answered_on_every_route(open_server, route):
    assert _send(open_server, route, [_host(open_server)]) == 200
    assert _send(open_server, route, [_host(open_server), "Origin: http://localhost:3000"]) == 200


HOST_PROBES = {
    "host without a port": lambda port: ["Host: 127.0.0.1"],
    "localhost without a port": lambda port: ["Host: localhost"],
    "foreign host": lambda port: [f"Host: evil.example:{port}"],
    "port that is not digits": lambda port: ["Host: 127.0.0.1:80@evil.example"],
    "allowed host first, foreign second": lambda port: [f"Host: 127.0.0.1:{port}", "Host: evil.example"],
    "foreign host first, allowed second": lambda port: ["Host: evil.example", f"Host: 127.0.0.1:{port}"],
    "no host": lambda port: [],
}


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("probe", HOST_PROBES)
def test_a_host_the_sdk_refuses_is_refused_with_421_on_every_route(open_server, probe, route):
    assert _send(open_server, route, HOST_PROBES[probe](open_server.port)) == 421


ORIGIN_PROBES = {
    "foreign origin": ["Origin: https://evil.example"],
    "allowed origin without a port": ["Origin: http://localhost"],
    "null origin": ["Origin: null"],
    "empty origin": ["Origin: "],
    "foreign origin first, allowed second": ["Origin: https://evil.example", "Origin: http://localhost:3000"],
    "allowed origin first, foreign second": ["Origin: http://localhost:3000", "Origin: https://evil.example"],
}


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("probe", ORIGIN_PROBES)
def test_an_origin_the_sdk_refuses_is_refused_with_403_on_every_route(open_server, probe, route):
    assert _send(open_server, route, [_host(open_server), *ORIGIN_PROBES[probe]]) == 403


AUTH_PROBES = {
    "no token": {},
    "wrong token": {"Authorization": "Bearer not-the-token"},
    "empty token": {"Authorization": "Bearer "},
    "wrong scheme": {"Authorization": f"Basic {TOKEN}"},
    "token without scheme": {"Authorization": TOKEN},
    "token with a suffix": {"Authorization": f"Bearer {TOKEN}x"},
    "token prefix": {"Authorization": f"Bearer {TOKEN[:-1]}"},
    "token in another header": {"X-Auth-Token": TOKEN},
}


@pytest.mark.parametrize("route", [r for r in ROUTES if r != "health"])
@pytest.mark.parametrize("probe", AUTH_PROBES)
def test_every_route_but_health_needs_the_exact_bearer_token(secured_server, probe, route):
    assert _send(secured_server, route, [_host(secured_server)], AUTH_PROBES[probe]) == 401
    assert _send(secured_server, route, [_host(secured_server)], secured_server.auth) == 200


def test_health_needs_no_token_and_the_token_in_the_query_string_counts_for_nothing(secured_server):
    assert http_client.get(f"{secured_server.url}/health").status_code == 200
    for query in (f"access_token={TOKEN}", f"token={TOKEN}", f"authorization=Bearer%20{TOKEN}"):
        answer = http_client.get(f"{secured_server.url}/api/v1/jump-events?limit=1&{query}")
        assert answer.status_code == 401 and answer.headers["WWW-Authenticate"].startswith("Bearer")
    for path in ("/metrics", "/openapi.json", "/docs", "/mcp"):
        assert http_client.get(f"{secured_server.url}{path}").status_code == 401, path


def test_the_token_never_reaches_the_server_log(secured_server):
    http_client.get(f"{secured_server.url}/api/v1/jump-events?limit=1", headers=secured_server.auth)
    http_client.get(f"{secured_server.url}/api/v1/jump-events?limit=1", headers={"Authorization": "Bearer wrong-7f3a"})
    log = secured_server.log.read_text()
    assert TOKEN not in log and "wrong-7f3a" not in log
