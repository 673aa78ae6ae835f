"""Bounded resources of a real ``microstructure serve`` process (issue 15, point 2).

Slow clients (half-sent headers, half-sent bodies, SSE streams left open) are closed by the server's own
deadlines and its descriptors come back; beyond ``MCP_MAX_CONNECTIONS`` a request gets 503 with
``Retry-After`` while admitted clients are still served; ``/health`` answers while slow queries hold every
worker thread. Deadlines are a few seconds here; the waits below are upper bounds with slack (a server
without the limits never closes these connections), not measurements.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.server.raw_http import read_response
from tests.server.serve_process import ServeProcess, serve_process

pytestmark = [pytest.mark.duckdb, pytest.mark.e2e]

DEADLINE_S = 2
#: How long past a deadline the test waits for the server to have closed everything.
SLACK_S = 20
CLIENTS = 200


@pytest.fixture(scope="module")
def server(market_db, tmp_path_factory) -> Iterator[ServeProcess]:
    with serve_process(market_db, tmp_path_factory.mktemp("limits"), mcp_header_timeout_seconds=DEADLINE_S,
                       mcp_body_timeout_seconds=DEADLINE_S, mcp_stream_idle_seconds=DEADLINE_S,
                       mcp_keep_alive_seconds=DEADLINE_S) as running:  # fmt: skip
        yield running


def _open(port: int, first: bytes, n: int) -> list[socket.socket]:
    sockets = []
    for _ in range(n):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if first:
            sock.sendall(first)
        sockets.append(sock)
    return sockets


def _read_until_closed(sockets: list[socket.socket], seconds: float) -> dict[socket.socket, bytes | None]:
    """What each socket received before the server closed it (``None``: still open after ``seconds``)."""
    selector = selectors.DefaultSelector()
    received: dict[socket.socket, bytes] = {}
    for sock in sockets:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        received[sock] = b""
    closed: set[socket.socket] = set()
    deadline = time.monotonic() + seconds
    while len(closed) < len(sockets) and (left := deadline - time.monotonic()) > 0:
        for key, _ in selector.select(left):
            sock = key.fileobj
            try:
                chunk = sock.recv(65536)  # type: ignore[union-attr]
            except ConnectionResetError:
                chunk = b""
            if chunk:
                received[sock] += chunk  # type: ignore[index]
            else:
                selector.unregister(sock)
                closed.add(sock)  # type: ignore[arg-type]
    selector.close()
    for sock in sockets:
        sock.close()
    return {sock: (received[sock] if sock in closed else None) for sock in sockets}


def _descriptors_back(server: ServeProcess, baseline: int) -> int:
    """The process's descriptor count once it is near ``baseline`` again (or after ``SLACK_S``)."""
    deadline = time.monotonic() + SLACK_S
    while (count := server.descriptors()) > baseline + 10 and time.monotonic() < deadline:
        time.sleep(0.2)
    return count


def _check_all_closed(server: ServeProcess, request: bytes, reason: str) -> list[bytes]:
    server.metric("microstructure_http_limited_total", reason=reason)  # warm: the baseline counts no client
    baseline, counted = server.descriptors(), server.metric("microstructure_http_limited_total", reason=reason)
    sockets = _open(server.port, request, CLIENTS)
    received = _read_until_closed(sockets, DEADLINE_S + SLACK_S)
    still_open = sum(answer is None for answer in received.values())
    assert still_open == 0, f"{still_open} of {CLIENTS} connections still open {DEADLINE_S + SLACK_S} s later"
    assert _descriptors_back(server, baseline) <= baseline + 10
    assert server.metric("microstructure_http_limited_total", reason=reason) - counted == CLIENTS  # each by its limit
    assert httpx.get(f"{server.url}/health", timeout=10).status_code == 200  # honest clients still served
    return [answer for answer in received.values() if answer is not None]


def test_half_sent_headers_are_closed_after_the_header_deadline(server):
    request = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAccept: */*\r\n".encode()
    answers = _check_all_closed(server, request, "header_timeout")
    assert set(answers) == {b""}  # nothing parsed, nothing answered: closed


def test_connections_that_send_nothing_are_closed_after_the_header_deadline(server):
    _check_all_closed(server, b"", "header_timeout")


def test_idle_keep_alive_connections_are_closed_after_the_keep_alive_timeout(server):
    request = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode()
    answers = _check_all_closed(server, request, "keep_alive")
    assert all(answer.startswith(b"HTTP/1.1 200 ") for answer in answers)  # answered, then closed when idle


def test_half_sent_bodies_get_408_and_are_closed_after_the_body_deadline(server):
    request = (f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nContent-Type: application/json\r\n"
               "Accept: application/json, text/event-stream\r\nContent-Length: 200\r\n\r\n{\"jsonrpc\":").encode()  # fmt: skip
    answers = _check_all_closed(server, request, "body_timeout")
    assert all(answer.startswith(b"HTTP/1.1 408 ") and b"MCP_BODY_TIMEOUT_SECONDS" in answer for answer in answers)


def test_idle_sse_streams_are_ended_and_closed(server):
    request = (f"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAccept: text/event-stream\r\n"
               "MCP-Protocol-Version: 2025-06-18\r\n\r\n").encode()  # fmt: skip
    answers = _check_all_closed(server, request, "stream_idle")
    for answer in answers:
        head, _, _ = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 ") and b"text/event-stream" in head
        assert answer.endswith(b"0\r\n\r\n")  # the chunked stream was ended, not cut


def _exchange(sock: socket.socket, request: bytes) -> tuple[int, dict[bytes, bytes], bytes]:
    """Send one request on ``sock`` and read one response with a Content-Length."""
    sock.sendall(request)
    return read_response(sock)


def test_beyond_the_connection_cap_requests_get_503_with_retry_after(market_db, tmp_path):
    cap = 20
    with serve_process(market_db, tmp_path, mcp_max_connections=cap, mcp_header_timeout_seconds=120,
                       mcp_keep_alive_seconds=120) as server:  # fmt: skip
        health = f"GET /health HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode()
        metrics = f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode()
        admitted = _open(server.port, b"", cap)
        assert {_exchange(sock, health)[0] for sock in admitted} == {200}

        beyond = _open(server.port, b"", 5)
        for sock in beyond:
            status, headers, body = _exchange(sock, health)
            assert (status, headers[b"retry-after"], headers[b"connection"]) == (503, b"1", b"close")
            assert b"MCP_MAX_CONNECTIONS" in body
            assert sock.recv(1) == b""  # and closed
        assert {_exchange(sock, health)[0] for sock in admitted} == {200}  # admitted clients are still served

        # Beyond twice the cap, a new connection is closed before anything is read.
        silent = _open(server.port, b"", cap + 5)
        received = _read_until_closed(silent[cap:], SLACK_S)
        assert set(received.values()) == {b""}
        text = _exchange(admitted[0], metrics)[2].decode()
        assert 'microstructure_http_limited_total{reason="over_capacity"} 5.0' in text
        assert 'microstructure_http_limited_total{reason="over_ceiling"} 5.0' in text
        for sock in silent[:cap]:
            sock.close()

        admitted.pop().close()  # a slot frees up: the next connection is served
        (replacement,) = _open(server.port, b"", 1)
        deadline = time.monotonic() + SLACK_S
        while (status := _exchange(replacement, health)[0]) == 503 and time.monotonic() < deadline:
            replacement.close()  # a 503 closes the connection; the freed slot may not be seen yet
            (replacement,) = _open(server.port, b"", 1)
        assert status == 200
        for sock in [*admitted, replacement]:
            sock.close()


def test_health_answers_while_slow_queries_hold_every_worker_thread_and_more_calls_wait_for_one(market_db, tmp_path):
    slow = {"sql": "SELECT count(*) FROM range(100000000000) a, range(1000) b"}
    workers, queries = 3, 6  # more queries than MCP_WORKER_THREADS
    with serve_process(market_db, tmp_path, mcp_query_timeout_ms=4000, mcp_worker_threads=workers) as server:
        finished: list[str] = []
        lock = threading.Lock()

        def run_query() -> None:
            status = httpx.post(f"{server.url}/api/v1/sql", json=slow, timeout=120).status_code
            with lock:
                finished.append(f"query {status}")

        threads = [threading.Thread(target=run_query) for _ in range(queries)]
        for thread in threads:
            thread.start()
        started = {"tool": "query", "transport": "rest"}
        deadline = time.monotonic() + 60
        while server.metric("microstructure_tool_requests_total", **started) < workers:  # every worker thread is taken
            assert time.monotonic() < deadline, "the slow queries did not start"
            assert not finished, f"a query ended before the pool was full: {finished}"
            time.sleep(0.05)
        answer = httpx.get(f"{server.url}/health", timeout=120)
        with lock:
            finished.append(f"health {answer.status_code}")
            running = server.metric("microstructure_tool_requests_total", **started)
            nothing_ended = finished == [f"health {answer.status_code}"]
        for thread in threads:
            thread.join(120)
        assert finished[0] == "health 200", finished[:3]
        if nothing_ended:  # no thread freed up yet: the calls beyond MCP_WORKER_THREADS have not started
            assert running == workers
        assert len(finished) == queries + 1
        assert not any(entry.startswith("query 5") and entry != "query 504" for entry in finished), finished


def _enriched_page(client: httpx.Client, url: str, start_ns: int) -> int:
    """Call get_enriched_data (AAPL, 1000 rows from ``start_ns``) on the MCP endpoint; return the answer's size."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "get_enriched_data", "arguments": {"symbol": "AAPL", "limit": 1000, "start": str(start_ns)}}}  # fmt: skip
    answer = client.post(f"{url}/mcp", json=body, headers={"Accept": "application/json, text/event-stream"})
    assert answer.status_code == 200 and '"isError":false' in answer.text.replace(" ", ""), answer.text[:300]
    return len(answer.content)


def test_the_response_cache_stays_within_its_byte_budget(market_db, tmp_path):
    budget = 16 * 2**20
    with serve_process(market_db, tmp_path, mcp_max_rows=1000, mcp_response_cache_bytes=budget,
                       mcp_response_cache_ms=3_600_000, mcp_query_timeout_ms=60_000) as server:  # fmt: skip
        first_ns = time.time_ns() - 36 * 3_600 * 10**9  # the fixture holds 1.5 days of trades ending now
        with httpx.Client(timeout=120) as client:
            sizes = [_enriched_page(client, server.url, first_ns + i * 10**9) for i in range(40)]
            settled = server.rss_bytes()
            sizes += [_enriched_page(client, server.url, first_ns + i * 10**9) for i in range(40, 440)]
            grown = server.rss_bytes() - settled
        cached = server.metric("microstructure_response_cache_bytes")
        entries = server.metric("microstructure_response_cache_entries")
        print(f"page {min(sizes)}..{max(sizes)} bytes; cache {cached:.0f} bytes in {entries:.0f}; RSS +{grown / 2**20:.1f} MiB")
        assert min(sizes) > 500_000  # large answers: 400 of them are far beyond the budget
        assert budget / 2 < cached <= budget and entries >= 2  # the cache filled up to its budget, never past it
        assert grown < 64 * 2**20, f"RSS grew {grown / 2**20:.0f} MiB over 400 distinct pages"
