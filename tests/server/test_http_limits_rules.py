"""The HTTP caps of :mod:`server.http_limits` in process, each rule on its own (the real ``serve``: test_limits.py).

Two uvicorn servers on 127.0.0.1 per module, each in a thread with :class:`LimitedHttpProtocol` over a tiny ASGI
app, driven by raw sockets: one with short deadlines (headers ``HEADER_S``, bodies ``BODY_S``, keep-alive
``KEEP_ALIVE_S``) and no practical cap, one with a cap of ``CAP`` connections and deadlines far away. Each rule
of the module docstring is checked by what a client sees (status line, headers, the JSON error body, the
connection closed or not) and by the counter ``microstructure_http_limited_total{reason}`` and the gauge of open
connections. The header and body deadlines differ (``HEADER_S`` < ``BODY_S``) so that a test tells them apart:
a header that completes between the two is too late, a body that completes between them is in time. Waits are
upper bounds with slack or fixed pauses between a client's pieces, never measured durations.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import orjson
import pytest
import uvicorn

from server.http_limits import RETRY_AFTER_SECONDS, ConnectionLimits, limited_protocol
from server.metrics import ServerMetrics
from tests.server.raw_http import read_response

HEADER_S = 0.25
BODY_S = 1.5
KEEP_ALIVE_S = 0.5
#: A pause between a client's pieces that is past HEADER_S and well before BODY_S.
BETWEEN_S = 0.7
CAP = 2
#: Upper bound of any wait for something the server must do (closing, answering).
SLACK_S = 10.0
#: What the 503's drain reads at most before answering (``server.http_limits``: the app's body limit, 1 MiB).
DRAIN_BYTES = 1 << 20

#: The ASGI messages each path's app received, in order (``/record`` only).
RECEIVED: list[dict] = []


async def _app(scope, receive, send) -> None:
    """``/``: read the body, answer 200 with its size; ``/slow``: the same after ``BODY_S + 0.5`` s; ``/early``:
    start a 200 before reading the body; ``/record``: read the body recording each message in ``RECEIVED``."""
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/early":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"started", "more_body": True})
    size = 0
    while True:
        message = await receive()
        if path == "/record":
            RECEIVED.append(message)
        if message["type"] != "http.request":
            return
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    if path == "/slow":
        await asyncio.sleep(BODY_S + 0.5)
    if path == "/early":
        await send({"type": "http.response.body", "body": b""})
        return
    body = orjson.dumps({"bytes": size})
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


@dataclass
class Running:
    port: int
    limits: ConnectionLimits
    metrics: ServerMetrics

    def limited(self, reason: str) -> float:
        value = self.metrics.registry.get_sample_value("microstructure_http_limited_total", {"reason": reason})
        return value or 0.0

    def open_connections(self) -> float:
        return self.metrics.registry.get_sample_value("microstructure_http_connections") or 0.0

    def connect(self, first: bytes = b"") -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=SLACK_S)
        if first:
            sock.sendall(first)
        return sock

    def settle(self, connections: int = 0) -> None:
        """Wait until exactly ``connections`` connections are open (the ones of earlier tests have gone)."""
        _wait_for(lambda: self.open_connections() == connections, f"{connections} open connections")


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + SLACK_S
    while not condition():
        assert time.monotonic() < deadline, f"not reached within {SLACK_S} s: {what}"
        time.sleep(0.02)


def _serve(max_connections: int, header_s: float, body_s: float, keep_alive_s: float) -> Iterator[Running]:
    metrics = ServerMetrics()
    limits = ConnectionLimits(max_connections=max_connections, header_timeout_s=header_s, body_timeout_s=body_s,
                              metrics=metrics)  # fmt: skip
    config = uvicorn.Config(_app, http=limited_protocol(limits), lifespan="off", log_level="critical",
                            timeout_keep_alive=keep_alive_s)  # type: ignore[arg-type]  # fmt: skip
    server = uvicorn.Server(config)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    _wait_for(lambda: server.started, "the server started")
    try:
        yield Running(listener.getsockname()[1], limits, metrics)
    finally:
        server.should_exit = True
        thread.join(SLACK_S)
        listener.close()


@pytest.fixture(scope="module")
def deadlines() -> Iterator[Running]:
    """Short deadlines, a cap no test reaches."""
    yield from _serve(100, HEADER_S, BODY_S, KEEP_ALIVE_S)


@pytest.fixture(scope="module")
def capped() -> Iterator[Running]:
    """``CAP`` connections, deadlines no test reaches."""
    yield from _serve(CAP, 60.0, 60.0, 60.0)


def _read_until_closed(sock: socket.socket, seconds: float = SLACK_S) -> bytes | None:
    """What ``sock`` received until the server closed it; ``None`` if still open after ``seconds``."""
    received = b""
    deadline = time.monotonic() + seconds
    try:
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                return None
            if not chunk:
                return received
            received += chunk
        return None
    except ConnectionResetError:
        return received
    finally:
        sock.close()


def _nothing_arrives(sock: socket.socket, seconds: float) -> bool:
    """True if nothing arrives on ``sock`` and it stays open for ``seconds``."""
    sock.settimeout(seconds)
    try:
        sock.recv(65536)  # data, or b"" when closed
    except TimeoutError:
        return True
    finally:
        sock.settimeout(SLACK_S)
    return False


def _get(path: str = "/") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode()


def _post_head(path: str, length: int) -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Length: {length}\r\n\r\n".encode()


def _error(status: int, message: str) -> dict:
    """The one error shape of the HTTP API (README, datasette's ``{ok, error, errors, status}``)."""
    return {"ok": False, "error": message, "errors": [], "status": status}


# --- ConnectionLimits --------------------------------------------------------------------------------------


def test_count_adds_one_to_the_reason_and_does_nothing_without_metrics():
    metrics = ServerMetrics()
    limits = ConnectionLimits(max_connections=1, header_timeout_s=1.0, body_timeout_s=1.0, metrics=metrics)
    limits.count("header_timeout")
    limits.count("header_timeout")
    limits.count("over_capacity")
    sample = metrics.registry.get_sample_value
    assert sample("microstructure_http_limited_total", {"reason": "header_timeout"}) == 2.0
    assert sample("microstructure_http_limited_total", {"reason": "over_capacity"}) == 1.0
    ConnectionLimits(max_connections=1, header_timeout_s=1.0, body_timeout_s=1.0).count("header_timeout")  # no error


# --- header deadline ---------------------------------------------------------------------------------------


def test_a_connection_that_sends_nothing_is_closed_at_the_header_deadline_and_counted(deadlines):
    deadlines.settle()
    before = deadlines.limited("header_timeout")
    sock = deadlines.connect()
    deadlines.settle(1)  # the gauge counts the open connection
    assert _read_until_closed(sock) == b""
    assert deadlines.limited("header_timeout") == before + 1
    deadlines.settle(0)  # and uncounts it once closed


def test_a_header_completed_after_the_header_deadline_is_too_late_even_before_the_body_deadline(deadlines):
    deadlines.settle()
    before = deadlines.limited("header_timeout")
    sock = deadlines.connect(b"GET / HTTP/1.1\r\nHost: test\r\n")
    time.sleep(BETWEEN_S)
    try:
        sock.sendall(b"\r\n")
    except OSError:
        pass  # already closed: that is the rule
    assert _read_until_closed(sock) == b""  # nothing answered
    assert deadlines.limited("header_timeout") == before + 1


def test_a_header_trickled_byte_by_byte_does_not_extend_the_header_deadline(deadlines):
    deadlines.settle()
    before = deadlines.limited("header_timeout")
    sock = deadlines.connect()
    closed = False
    for byte in b"GET / HTTP/1.1\r\nHost: test\r\nX-Slow: " + b"a" * 200:
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            closed = True
            break
        time.sleep(0.05)  # one byte every 50 ms: the header deadline passes after a few bytes
    sock.close()
    assert closed, "a header trickled byte by byte kept the connection open"
    assert deadlines.limited("header_timeout") == before + 1


def test_a_client_that_hangs_up_before_its_header_deadline_is_not_counted(deadlines):
    deadlines.settle()
    before = deadlines.limited("header_timeout")
    deadlines.connect(b"GET / HTTP/1.1\r\n").close()
    deadlines.settle(0)
    time.sleep(HEADER_S * 3)  # past the deadline the connection would have had
    assert deadlines.limited("header_timeout") == before


def test_a_request_in_time_is_answered_and_the_deadlines_stop_while_the_app_runs(deadlines):
    deadlines.settle()
    before = {reason: deadlines.limited(reason) for reason in ("header_timeout", "body_timeout")}
    sock = deadlines.connect(_post_head("/slow", 3) + b"abc")  # the app answers after BODY_S + 0.5 s
    status, _, body = read_response(sock)
    assert (status, orjson.loads(body)) == (200, {"bytes": 3})
    sock.close()
    assert {reason: deadlines.limited(reason) for reason in before} == before


def test_on_a_kept_alive_connection_the_next_request_is_answered_within_the_keep_alive_period(deadlines):
    deadlines.settle()
    sock = deadlines.connect(_get())
    assert read_response(sock)[0] == 200
    time.sleep(HEADER_S * 1.5)  # idle past the header deadline but within keep-alive: not closed
    sock.sendall(_get())
    assert read_response(sock)[0] == 200
    sock.close()


def test_the_next_request_on_a_kept_alive_connection_has_its_headers_due_within_the_header_deadline(deadlines):
    deadlines.settle()
    before = {reason: deadlines.limited(reason) for reason in ("header_timeout", "keep_alive")}
    sock = deadlines.connect(_get())
    assert read_response(sock)[0] == 200
    sock.sendall(b"GET / HTTP/1.1\r\n")  # the next request's headers begin, and stop
    assert _read_until_closed(sock) == b""
    assert deadlines.limited("header_timeout") == before["header_timeout"] + 1
    assert deadlines.limited("keep_alive") == before["keep_alive"]


def test_blank_lines_on_a_kept_alive_connection_do_not_extend_the_header_deadline(deadlines):
    deadlines.settle()
    before = deadlines.limited("header_timeout")
    sock = deadlines.connect(_get())
    assert read_response(sock)[0] == 200
    closed = False
    end = time.monotonic() + SLACK_S
    while time.monotonic() < end:
        try:
            sock.sendall(b"\r\n")  # within keep-alive each time, but no request begins
        except OSError:
            closed = True
            break
        sock.settimeout(0.1)
        try:
            if sock.recv(1) == b"":
                closed = True
                break
        except TimeoutError:
            pass
        except ConnectionResetError:
            closed = True
            break
    sock.close()
    assert closed, f"blank lines kept the connection open for {SLACK_S} s"
    assert deadlines.limited("header_timeout") == before + 1


def test_a_blank_line_after_a_body_while_the_app_runs_does_not_start_the_header_deadline(deadlines):
    """Old clients send a CRLF after a POST body (RFC 9112 section 2.2: servers ignore it); it begins no request."""
    deadlines.settle()
    before = deadlines.limited("header_timeout")
    sock = deadlines.connect(_post_head("/slow", 1) + b"x")  # the app answers after BODY_S + 0.5 s
    time.sleep(0.1)
    sock.sendall(b"\r\n")
    status, _, body = read_response(sock)
    assert (status, orjson.loads(body)) == (200, {"bytes": 1})
    sock.close()
    assert deadlines.limited("header_timeout") == before


def test_a_pipelined_request_has_its_headers_due_from_its_first_byte_while_the_one_before_runs(deadlines):
    deadlines.settle()
    before = {reason: deadlines.limited(reason) for reason in ("header_timeout", "keep_alive", "body_timeout")}
    # the first request runs BODY_S + 0.5 s; the second's headers begin and stop
    sock = deadlines.connect(_post_head("/slow", 1) + b"x" + b"GET / HTTP/1.1\r\n")
    assert _read_until_closed(sock) == b""  # closed at the second's header deadline, before the first's answer
    assert deadlines.limited("header_timeout") == before["header_timeout"] + 1
    assert deadlines.limited("keep_alive") == before["keep_alive"]
    assert deadlines.limited("body_timeout") == before["body_timeout"]


# --- body deadline -----------------------------------------------------------------------------------------


def test_a_body_completed_after_the_header_deadline_but_before_the_body_deadline_is_in_time(deadlines):
    deadlines.settle()
    sock = deadlines.connect(_post_head("/", 4) + b"ab")
    time.sleep(BETWEEN_S)
    sock.sendall(b"cd")
    status, _, body = read_response(sock)
    assert (status, orjson.loads(body)) == (200, {"bytes": 4})
    sock.close()


def test_a_body_not_complete_at_the_body_deadline_gets_408_in_the_error_shape_and_is_closed(deadlines):
    deadlines.settle()
    before = deadlines.limited("body_timeout")
    RECEIVED.clear()
    sock = deadlines.connect(_post_head("/record", 10) + b"abc")
    answer = _read_until_closed(sock)
    assert answer is not None
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    headers = dict(line.lower().split(b": ", 1) for line in lines[1:])
    assert lines[0] == b"HTTP/1.1 408 Request Timeout"
    assert headers == {b"content-type": b"application/json", b"connection": b"close",
                       b"content-length": str(len(body)).encode()}  # fmt: skip
    assert orjson.loads(body) == _error(408, f"the request body did not arrive within MCP_BODY_TIMEOUT_SECONDS={BODY_S:g}")
    assert deadlines.limited("body_timeout") == before + 1
    _wait_for(lambda: any(m["type"] == "http.disconnect" for m in RECEIVED), "the app was told of the disconnect")
    # the app's next receive says disconnect at once: no empty chunk of a body that will never come
    assert RECEIVED == [{"type": "http.request", "body": b"abc", "more_body": True}, {"type": "http.disconnect"}]


def test_a_body_that_stops_after_the_app_has_answered_is_closed_without_a_408(deadlines):
    deadlines.settle()
    before = deadlines.limited("body_timeout")
    sock = deadlines.connect(_post_head("/early", 10) + b"abc")
    answer = _read_until_closed(sock)
    assert answer is not None and answer.startswith(b"HTTP/1.1 200 ")
    assert b"408" not in answer and b"MCP_BODY_TIMEOUT_SECONDS" not in answer
    assert deadlines.limited("body_timeout") == before + 1


# --- keep-alive --------------------------------------------------------------------------------------------


def test_an_idle_kept_alive_connection_is_closed_by_uvicorn_and_counted_as_keep_alive(deadlines):
    deadlines.settle()
    before = {reason: deadlines.limited(reason) for reason in ("header_timeout", "keep_alive")}
    sock = deadlines.connect(_get())
    assert read_response(sock)[0] == 200
    assert _read_until_closed(sock) == b""
    assert deadlines.limited("keep_alive") == before["keep_alive"] + 1
    assert deadlines.limited("header_timeout") == before["header_timeout"]


# --- the connection cap ------------------------------------------------------------------------------------


def _check_503(sock: socket.socket, request: bytes) -> None:
    sock.sendall(request)
    status, headers, body = read_response(sock)
    assert status == 503
    assert headers[b"content-type"] == b"application/json"
    assert headers[b"retry-after"] == str(RETRY_AFTER_SECONDS).encode() == b"1"
    assert headers[b"connection"] == b"close"
    assert headers[b"content-length"] == str(len(body)).encode()
    message = "the server is at its connection limit (MCP_MAX_CONNECTIONS); retry later"
    assert orjson.loads(body) == _error(503, message)
    assert _read_until_closed(sock) == b""  # and closed


def test_the_first_cap_connections_are_served_and_the_next_gets_503_with_retry_after(capped):
    capped.settle()
    before = capped.limited("over_capacity")
    first, second = capped.connect(), capped.connect()
    capped.settle(2)
    third = capped.connect()
    capped.settle(3)
    _check_503(third, _get())
    assert capped.limited("over_capacity") == before + 1
    for sock in (first, second):  # admitted clients are still served, again and again
        for _ in range(2):
            sock.sendall(_get())
            assert read_response(sock)[0] == 200
        sock.close()
    assert capped.limited("over_capacity") == before + 1


def test_a_connection_beyond_the_cap_is_admitted_at_its_request_once_a_slot_has_freed(capped):
    capped.settle()
    first, second = capped.connect(), capped.connect()
    capped.settle(2)
    waiting = capped.connect()
    capped.settle(3)
    first.close()
    capped.settle(2)
    waiting.sendall(_get())
    assert read_response(waiting)[0] == 200  # admitted when its headers were complete
    late = capped.connect()  # the cap is taken again: second and waiting
    _check_503(late, _get())
    for sock in (second, waiting):
        sock.close()


def test_beyond_twice_the_cap_a_new_connection_is_closed_before_anything_is_read(capped):
    capped.settle()
    before = {reason: capped.limited(reason) for reason in ("over_ceiling", "over_capacity")}
    kept = [capped.connect() for _ in range(2 * CAP)]
    capped.settle(2 * CAP)
    beyond = capped.connect()
    assert _read_until_closed(beyond) == b""
    assert capped.limited("over_ceiling") == before["over_ceiling"] + 1
    capped.settle(2 * CAP)  # the aborted one is counted open and closed like any other
    kept[0].sendall(_get())
    assert read_response(kept[0])[0] == 200  # admitted clients are still served
    _check_503(kept[-1], _get())  # the last kept connection was not closed: it is refused, not aborted
    assert capped.limited("over_capacity") == before["over_capacity"] + 1
    for sock in kept:
        sock.close()


def test_a_refused_request_is_answered_only_once_its_body_has_arrived(capped):
    capped.settle()
    first, second = capped.connect(), capped.connect()
    capped.settle(2)
    third = capped.connect(_post_head("/", 10) + b"abcde")
    assert _nothing_arrives(third, 0.5)  # the rest of the body is awaited, then dropped
    _check_503(third, b"fghij")
    for sock in (first, second):
        sock.close()


def test_a_refused_request_is_answered_once_more_than_1_mib_of_its_body_has_arrived(capped):
    capped.settle()
    first, second = capped.connect(), capped.connect()
    capped.settle(2)
    third = capped.connect(_post_head("/", 4 * DRAIN_BYTES))
    third.sendall(b"x" * DRAIN_BYTES)
    assert _nothing_arrives(third, 0.5)  # 1 MiB read: still reading
    _check_503(third, b"x")  # one byte more: answered without the rest
    for sock in (first, second):
        sock.close()
