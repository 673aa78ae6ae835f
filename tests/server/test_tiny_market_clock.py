"""The two-hour file of ``tests/server/tiny_market.py`` ends "now", so a run at another instant reads another tape:
whenever it is built, every symbol has rising and falling jumps (one of at least 9 in size each way) and BUY and
SELL bars, the rows the read-path tests ask for. Built here with the clock moved (``time.time_ns`` shifted
while the file is written; it keeps running)."""

from __future__ import annotations

import time

import duckdb
import pytest

from ingest.synthetic_market import DEFAULT_SYMBOLS
from tests.server.tiny_market import build_tiny_market

pytestmark = pytest.mark.duckdb

SYMBOLS = {spec.symbol for spec in DEFAULT_SYMBOLS[:5]}
#: Friday 2027-01-01 12:30:20 UTC (noon UTC is the thinnest hour of the simulated day: jumps stamped on the minutes
#: divisible by 13 left MSFT no falling one, and the REST jump test failed); Sunday 2026-12-06 00:10 UTC (a UTC
#: midnight, so a session start, inside the file)
INSTANTS = [1_798_806_620, 1_796_515_800]


@pytest.mark.parametrize("instant", INSTANTS)
def test_the_tiny_file_has_jumps_both_ways_and_both_signals_for_every_symbol(instant, tmp_path, monkeypatch):
    real = time.time_ns
    offset = instant * 10**9 - real()
    monkeypatch.setattr(time, "time_ns", lambda: real() + offset)
    path = build_tiny_market(tmp_path / "tiny.duckdb")
    monkeypatch.undo()
    with duckdb.connect(str(path), read_only=True) as con:
        (newest,), = con.execute("SELECT max(ts_ns) FROM market_data").fetchall()
        jumps = con.execute("SELECT symbol, direction, max(abs(lee_mykland_stat)) FROM jump_events "
                            "GROUP BY ALL").fetchall()
        signals = con.execute("SELECT DISTINCT symbol, trading_signal FROM trading_signals "
                              "WHERE trading_signal <> 'HOLD'").fetchall()
    assert instant * 10**9 - 60 * 10**9 < newest <= instant * 10**9 + 600 * 10**9  # the moved clock was used
    assert {(s, d) for s, d, _ in jumps} == {(s, d) for s in SYMBOLS for d in ("up", "down")}
    assert all(size >= 9 for _, _, size in jumps), jumps
    assert set(signals) == {(s, t) for s in SYMBOLS for t in ("BUY", "SELL")}
