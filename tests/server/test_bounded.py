"""The response cache's byte accounting and the SSE idle rule, in process (the real server: test_limits.py)."""

from __future__ import annotations

import pytest

from server.response_cache import ENTRY_OVERHEAD_BYTES, ResponseCache, cache_key
from server.stream_idle import carries_event
from tests.server.tiny_market import empty_database


@pytest.fixture
def storage(tmp_path):
    """Answers ``data_version``: an empty file is enough (and fast in mutation runs)."""
    opened, _ = empty_database(tmp_path / "cache.duckdb")
    yield opened
    opened.close()


def _key(i: int):
    return cache_key("get_trading_signals", {"symbol": "AAPL", "limit": 100 + i})  # keys of one length


@pytest.mark.anyio
async def test_the_cache_keeps_the_newest_answers_within_its_byte_budget(storage):
    cache = ResponseCache(storage, check_ms=60_000, max_bytes=10_000)
    version = await cache.version()
    answer = b"x" * 1_000  # each entry counts 1,000 + its key + the overhead
    for i in range(50):
        cache.put(_key(i), version, answer)
        assert cache.bytes <= cache.max_bytes
    entry = len(answer) + len(_key(0)[1]) + ENTRY_OVERHEAD_BYTES
    assert len(cache) == 10_000 // entry and cache.bytes == len(cache) * entry
    kept = [i for i in range(50) if cache.get(_key(i), version) is not None]
    assert kept == list(range(50 - len(cache), 50))  # the least recently used went first


@pytest.mark.anyio
async def test_a_used_entry_outlives_newer_unused_ones(storage):
    cache = ResponseCache(storage, check_ms=60_000, max_bytes=10_000)  # 8 entries of ~1,200 bytes
    version = await cache.version()
    for i in range(8):
        cache.put(_key(i), version, b"x" * 1_000)
    assert len(cache) == 8 and cache.get(_key(0), version) is not None  # 0 is now the most recently used
    cache.put(_key(8), version, b"x" * 1_000)
    assert cache.get(_key(0), version) is not None and cache.get(_key(1), version) is None


@pytest.mark.anyio
async def test_an_answer_above_an_eighth_of_the_budget_is_not_kept(storage):
    cache = ResponseCache(storage, check_ms=60_000, max_bytes=80_000)
    version = await cache.version()
    cache.put(_key(1), version, b"x" * 5_000)
    cache.put(_key(2), version, b"x" * 10_001)
    assert cache.get(_key(2), version) is None and cache.not_kept == 1
    assert cache.get(_key(1), version) is not None  # a large answer does not empty the cache
    cache.put(_key(1), version, b"y" * 6_000)  # replacing an entry counts its new size only
    assert cache.bytes == 6_000 + len(_key(1)[1]) + ENTRY_OVERHEAD_BYTES


@pytest.mark.parametrize(
    "chunk, event",
    [
        (b": ping - 2026-12-04 03:00:00.000000+00:00\r\n\r\n", False),
        (b"\r\n", False),
        (b"event: message\r\ndata: {}\r\n\r\n", True),
        (b": comment\r\ndata: x\r\n\r\n", True),
        (b"id: 1\n\n", True),
    ],
)
def test_only_lines_that_are_not_comments_count_as_stream_activity(chunk, event):
    assert carries_event(chunk) is event
