"""``prepare_daily_metrics``'s "nothing became final" shortcut on a small real file, in process: it reads nothing
(``None``) when the grid was written to the same final day and no bar of a final day was written since, and reads
again otherwise (rows deleted behind the writer's back show which it did)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from sql.duckdb_backend import DayTrades
from tests.sql import test_duckdb_storage
from tests.sql.test_duckdb_write_paths import DAY, DAY0, _market_days

pytestmark = pytest.mark.duckdb

storage = test_duckdb_storage.storage


def test_prepare_skips_the_read_until_a_day_becomes_final_or_a_final_bar_is_written(storage) -> None:
    _market_days(storage, 2)
    watermark = DAY0 + 3 * DAY + 5
    final_before = DAY0 + 3 * DAY
    first = storage.prepare_daily_metrics(60, watermark)
    assert first is not None and first.final_before_ns == final_before and first.table.num_rows > 0
    assert storage.write_daily_metrics(60, watermark, prepared=first) == 2
    storage.execute_write("DELETE FROM daily_metrics")  # behind the writer's back: only a read finds it out
    assert storage.prepare_daily_metrics(60, watermark) is None  # nothing became final: nothing read
    assert storage.prepare_daily_metrics(60, watermark + 7, oldest_new_bar_ns=final_before) is None  # not final
    again = storage.prepare_daily_metrics(60, watermark, oldest_new_bar_ns=final_before - 1)  # a final day's bar
    assert again is not None and again.from_ns <= final_before - DAY
    # a grid without bars: only a bar before the final day's end is a day to read
    assert storage.prepare_daily_metrics(120, watermark, oldest_new_bar_ns=final_before) is None
    bar = storage.prepare_daily_metrics(120, watermark, oldest_new_bar_ns=final_before - 1)
    assert bar is not None and (bar.from_ns, bar.final_before_ns) == (final_before - DAY, final_before)


def test_a_trade_half_read_for_an_older_watermark_is_not_used(storage) -> None:
    _market_days(storage, 3)
    old = storage.prepare_daily_metrics(60, DAY0 + 3 * DAY + 5)  # days 1 and 2 final; day 3 not yet
    assert old is not None and old.final_before_ns == DAY0 + 3 * DAY
    columns = "symbol, session_date, trades, volume, vwap"
    assert storage.write_daily_metrics(60, DAY0 + 4 * DAY + 5, prepared=old) == 3
    with_old = sorted(storage.fetch_all(f"SELECT {columns} FROM daily_metrics"))
    storage.execute_write("DELETE FROM daily_metrics")
    storage.reset_signals(["MSFT"], 60)  # forget where the grid was written to (as the shortcut test does)
    assert storage.write_daily_metrics(60, DAY0 + 4 * DAY + 5) == 3
    assert with_old == sorted(storage.fetch_all(f"SELECT {columns} FROM daily_metrics"))
    assert all(n > 0 for _, _, n, _, _ in with_old)  # the third day's trades were read


def test_the_days_a_prepared_read_covers_take_their_trades_from_it_alone(storage) -> None:
    _market_days(storage, 2)
    watermark = DAY0 + 3 * DAY + 5
    full = storage.prepare_daily_metrics(60, watermark)
    assert full is not None and full.from_ns == DAY0 + DAY
    day1, day2 = DAY0 + DAY, DAY0 + 2 * DAY
    dates = [d.toordinal() for d in full.table.column("session_date").to_pylist()]
    second = pa.array([o == (DAY0 // DAY + 2) + dt.date(1970, 1, 1).toordinal() for o in dates])
    given = DayTrades(full.from_ns, full.final_before_ns, full.table.filter(second))  # day 1's trades left out
    assert storage.write_daily_metrics(60, watermark, prepared=given) == 2
    got = dict(storage.fetch_all("SELECT epoch(session_date)::BIGINT * 1000000000, trades FROM daily_metrics"))
    assert got == {day1: None, day2: 300}  # both days covered: neither read the file's trades


def test_the_days_read_end_at_the_start_of_the_watermarks_utc_day(storage) -> None:
    """A watermark in the middle of a UTC day: the days read end where that day starts (``final_before_ns``, an
    integer of nanoseconds), and the write takes them from the prepared read."""
    _market_days(storage, 2)
    watermark = DAY0 + 3 * DAY + DAY // 2 + 123_456_789
    prepared = storage.prepare_daily_metrics(60, watermark)
    assert prepared is not None and (prepared.from_ns, prepared.final_before_ns) == (DAY0 + DAY, DAY0 + 3 * DAY)
    assert type(prepared.final_before_ns) is int and type(prepared.from_ns) is int
    assert storage.write_daily_metrics(60, watermark, prepared=prepared) == 2


def test_writing_daily_metrics_keeps_the_realized_floor(storage) -> None:
    """``daily_metrics`` rows cannot move the bars or realized rows below the floor of ``realized_spread_due``:
    the transform's next pass after them still reads only the rows above it."""
    _market_days(storage, 2)
    storage._realized_floors[storage._file_key] = {(60, 300): DAY0 + 2 * DAY}
    assert storage.write_daily_metrics(60, DAY0 + 3 * DAY + 5) == 2
    assert storage._realized_floors.get(storage._file_key) == {(60, 300): DAY0 + 2 * DAY}
