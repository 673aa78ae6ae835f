"""``ResponseCache`` and ``cache_key`` over a real DuckDB file: when the data version is read again, what a
change of it drops, which answers are kept and how they are counted (the cache behind a real server:
``test_readme_promises.py``, ``test_limits.py``)."""

from __future__ import annotations

import orjson
import pytest

from server.response_cache import CACHEABLE_TOOLS, ENTRY_OVERHEAD_BYTES, ResponseCache, cache_key
from tests.server.tiny_market import empty_database
from tests.sql.test_duckdb_storage import trades

ARGS = {"symbol": "AAPL", "limit": 20, "start": None, "hours_back": None}


@pytest.fixture
def storage(tmp_path):
    opened, _ = empty_database(tmp_path / "cache.duckdb")
    yield opened
    opened.close()


def test_only_data_bound_calls_of_the_cacheable_tools_get_a_key():
    assert CACHEABLE_TOOLS == {"get_enriched_data", "get_trading_signals", "get_jump_events", "get_symbol_metrics"}
    key = cache_key("get_jump_events", ARGS)
    assert key == ("get_jump_events", orjson.dumps(ARGS, option=orjson.OPT_SORT_KEYS))
    assert key == cache_key("get_jump_events", dict(reversed(ARGS.items())))  # argument order does not matter
    assert key != cache_key("get_trading_signals", ARGS) and key != cache_key("get_jump_events", {**ARGS, "limit": 21})
    assert cache_key("get_real_time_data", ARGS) is None and cache_key("get_chart", ARGS) is None
    assert cache_key("get_jump_events", {**ARGS, "hours_back": 2.0}) is None
    assert cache_key("get_jump_events", {**ARGS, "hours_back": 0}) is None  # given, even if falsy
    assert cache_key("get_jump_events", {"symbol": "AAPL"}) is not None  # hours_back absent
    assert cache_key("get_jump_events", {**ARGS, "symbol": object()}) is None  # no canonical JSON form


@pytest.mark.anyio
async def test_the_version_is_read_again_only_after_the_check_interval(storage):
    slow = ResponseCache(storage, check_ms=3_600_000, max_bytes=10_000)
    fast = ResponseCache(storage, check_ms=0, max_bytes=10_000)
    empty = await slow.version()
    assert empty == await fast.version() == (None, 0, 0, 0)
    storage.append_trades(trades(3))
    assert await slow.version() == empty  # not read again within the hour
    assert await fast.version() == (None, 3, 0, 0)


@pytest.mark.anyio
async def test_the_first_version_is_read_on_a_machine_up_for_less_than_the_interval(storage, monkeypatch):
    """The monotonic clock counts from boot: a freshly started CI machine is up for less than an hour. The first
    call must read the version whatever the clock says (a cache started with 'last read at 0' answered None, the
    unread version, for its whole first interval: a clean-clone run failed the test above on such a box)."""
    storage.append_trades(trades(2))
    monkeypatch.setattr("server.response_cache.time.monotonic_ns", lambda: 5_000_000_000)  # up for 5 s
    cache = ResponseCache(storage, check_ms=3_600_000, max_bytes=10_000)
    assert await cache.version() == (None, 2, 0, 0)


@pytest.mark.anyio
async def test_a_new_version_drops_every_entry_and_an_unchanged_one_keeps_them(storage):
    cache = ResponseCache(storage, check_ms=0, max_bytes=10_000)
    version = await cache.version()
    key = cache_key("get_jump_events", ARGS)
    cache.put(key, version, b"answer")
    assert await cache.version() == version and cache.get(key, version) == b"answer"
    storage.append_trades(trades(2))
    new = await cache.version()
    assert new != version and len(cache) == 0 and cache.bytes == 0
    assert cache.get(key, version) is None and cache.get(key, new) is None


@pytest.mark.anyio
async def test_hits_and_misses_are_counted_and_a_stale_version_is_a_miss(storage):
    cache = ResponseCache(storage, check_ms=60_000, max_bytes=10_000)
    version = await cache.version()
    key = cache_key("get_jump_events", ARGS)
    assert cache.get(key, version) is None and (cache.hits, cache.misses) == (0, 1)
    cache.put(key, version, b"answer")
    assert cache.get(key, version) == b"answer" and (cache.hits, cache.misses) == (1, 1)
    assert cache.get(key, (1, 2, 3)) is None and (cache.hits, cache.misses) == (1, 2)


@pytest.mark.anyio
async def test_an_answer_computed_under_an_older_version_is_not_kept(storage):
    cache = ResponseCache(storage, check_ms=60_000, max_bytes=10_000)
    await cache.version()
    cache.put(cache_key("get_jump_events", ARGS), (None, -1, 0), b"answer")
    assert len(cache) == 0 and cache.bytes == 0 and cache.not_kept == 0


@pytest.mark.anyio
async def test_an_answer_of_exactly_the_largest_entry_size_is_kept(storage):
    cache = ResponseCache(storage, check_ms=60_000, max_bytes=8_000)
    assert cache.largest_entry_bytes == 1_000 and cache.max_bytes == 8_000
    version = await cache.version()
    cache.put("a", version, b"x" * (1_000 - ENTRY_OVERHEAD_BYTES))  # a key that is no call key: no arguments
    cache.put("b", version, b"x" * (1_001 - ENTRY_OVERHEAD_BYTES))
    assert cache.get("a", version) is not None and cache.get("b", version) is None
    assert cache.bytes == 1_000 and cache.not_kept == 1


@pytest.mark.anyio
async def test_the_budget_is_filled_exactly_before_anything_is_dropped(storage):
    cache = ResponseCache(storage, check_ms=60_000, max_bytes=8_000)
    version = await cache.version()
    for name in "abcdefgh":
        cache.put(name, version, b"x" * (1_000 - ENTRY_OVERHEAD_BYTES))
    assert len(cache) == 8 and cache.bytes == 8_000
    cache.put("i", version, b"x")
    assert len(cache) == 8 and cache.bytes == 7_000 + 1 + ENTRY_OVERHEAD_BYTES and cache.get("a", version) is None
    cache.put("b", version, b"y" * (1_000 - ENTRY_OVERHEAD_BYTES))  # replacing an entry evicts nothing
    assert len(cache) == 8 and cache.get("c", version) is not None


@pytest.mark.anyio
async def test_every_hit_and_every_answer_not_kept_is_counted(storage):
    cache = ResponseCache(storage, check_ms=60_000, max_bytes=8_000)
    version = await cache.version()
    cache.put("a", version, b"x")
    for _ in range(3):
        assert cache.get("a", version) == b"x"
    cache.put("b", version, b"x" * 2_000)
    cache.put("c", version, b"x" * 2_000)
    assert (cache.hits, cache.misses, cache.not_kept) == (3, 0, 2)


@pytest.mark.anyio
async def test_only_a_call_keys_canonical_arguments_count_as_key_bytes(storage):
    cache = ResponseCache(storage, check_ms=60_000, max_bytes=8_000)
    version = await cache.version()
    cache.put(("tool", "not bytes"), version, b"x" * 10)  # a tuple key without canonical arguments
    assert cache.bytes == 10 + ENTRY_OVERHEAD_BYTES
    cache.put(("tool", b"abc", "third"), version, b"x" * 10)
    assert cache.bytes == 2 * (10 + ENTRY_OVERHEAD_BYTES)
    cache.put(("tool", b"abcd"), version, b"x" * 10)
    assert cache.bytes == 3 * (10 + ENTRY_OVERHEAD_BYTES) + 4
