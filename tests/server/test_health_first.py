"""``HealthFirst``: ``GET /health`` is answered before the app's other layers, everything else passes through;
in the built app, ``/health`` is answered with no token and a body over the limit (the layers that would refuse
those never see it), and the Host/Origin guard still comes first."""

from __future__ import annotations

from fastapi.testclient import TestClient
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import Receive, Scope, Send

from conftest import small_settings
from server.app import build_app
from server.health import HealthFirst


class _Inner:
    """The rest of an app: records the requests that reach it."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen.append((scope["method"], scope["path"]))
        await PlainTextResponse("inner")(scope, receive, send)


async def _answer() -> JSONResponse:
    return JSONResponse({"ok": True, "from": "health"})


def test_get_health_is_answered_first_and_every_other_request_goes_on():
    inner = _Inner()
    client = TestClient(HealthFirst(inner, answer=_answer))  # no lifespan: _Inner answers only HTTP
    assert client.get("/health?verbose=1").json() == {"ok": True, "from": "health"}
    assert inner.seen == []
    for method, path in (("POST", "/health"), ("GET", "/healthz"), ("GET", "/health/x"), ("GET", "/")):
        assert client.request(method, path).text == "inner"
    assert inner.seen == [("POST", "/health"), ("GET", "/healthz"), ("GET", "/health/x"), ("GET", "/")]


def test_in_the_app_health_needs_no_token_ignores_the_body_limit_and_keeps_the_host_check(tiny_db):
    path, storage = tiny_db
    settings = small_settings(path, mcp_allowed_hosts="testserver", mcp_auth_token="health-first-token")
    with TestClient(build_app(settings, storage)) as client:
        health = client.request("GET", "/health", content=b"x" * (2 << 20))
        assert health.status_code == 200 and health.json()["database"] == "reachable"
        assert client.get("/api/v1/jump-events?limit=1").status_code == 401
        assert client.post("/health").status_code in (404, 405)  # not answered first: on to the routes
        foreign = client.get("/health", headers={"Host": "evil.example"})
        assert foreign.status_code == 421
        assert "/health" in client.get("/openapi.json", headers={"Authorization": "Bearer health-first-token"}).json()["paths"]


def test_in_the_app_health_is_the_layer_right_inside_the_host_and_origin_guard(tiny_db):
    path, storage = tiny_db
    layers = []
    app = build_app(small_settings(path, mcp_auth_token="health-first-token"), storage)
    while app is not None and len(layers) < 20:
        layers.append(type(app).__name__)
        app = getattr(app, "app", None)
    assert layers[:4] == ["StreamIdleLimit", "HostOriginGuard", "HealthFirst", "BearerAuth"], layers
