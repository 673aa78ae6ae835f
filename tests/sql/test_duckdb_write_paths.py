"""The DuckDB backend's writes beside the trades: ``commit_signals`` with every table it takes (fits, profiles,
bar liquidity, realized rows), ``write_realized_spread`` and ``realized_spread_due``, ``write_daily_metrics`` and
its "nothing became final" shortcut, on small real files (fast and in process: the mutation group
``storage-write`` runs them; the transform's own tests of these paths run it in plain Python for a minute)."""

from __future__ import annotations

import logging
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sql.backend import SignalStateRow
from sql.contract import (
    BAR_LIQUIDITY_SCHEMA,
    BAR_REALIZED_SPREAD_SCHEMA,
    INTRADAY_PROFILE_SCHEMA,
    MODEL_PARAMS_SCHEMA,
    QUOTES_SCHEMA,
)
from tests.sql import test_duckdb_storage
from tests.sql.test_duckdb_storage import _signal_rows, trades

pytestmark = pytest.mark.duckdb

#: A new file with the schema (the fixture of ``test_duckdb_storage.py``).
storage = test_duckdb_storage.storage

NS = 1_000_000_000
DAY = 86_400 * NS
#: 2023-11-14 22:13:20 UTC, the first trade of ``trades()``; its UTC day starts at DAY0.
T0 = 1_700_000_000 * NS
DAY0 = T0 // DAY * DAY


def _rows(schema: pa.Schema, n: int, **values: list[Any]) -> pa.Table:
    """``n`` rows of ``schema``: ``values`` as given, other nullable columns NULL, the rest 0 / "" / False."""
    def default(field: pa.Field) -> Any:
        if field.nullable:
            return None
        if pa.types.is_string(field.type):
            return ""
        return False if pa.types.is_boolean(field.type) else 0
    columns = {f.name: values.get(f.name, [default(f)] * n) for f in schema}
    return pa.table(columns, schema=schema)


def _quotes(n: int, *, ts0: int = T0) -> pa.Table:
    """``n`` AAPL quotes 1 ms apart from ``ts0``, sequence 0, 1, ..."""
    ts = [ts0 + i * 1_000_000 for i in range(n)]
    return pa.table({
        "market": ["stocks"] * n, "symbol": ["AAPL"] * n, "ts_ns": ts, "bid_price": [99.5] * n,
        "bid_size": [100.0] * n, "ask_price": [100.5] * n, "ask_size": [200.0] * n, "bid_exchange": [4] * n,
        "ask_exchange": [7] * n, "conditions": [None] * n, "sequence": list(range(n)), "tape": [3] * n,
        "received_ns": [t + 5 for t in ts], "source": ["sim"] * n,
    }, schema=QUOTES_SCHEMA)  # fmt: skip


def _reversed(table: pa.Table) -> pa.Table:
    """The same rows in the reverse column order (the writer casts a batch to the contract's order)."""
    return table.select(list(reversed(table.schema.names)))


def _realized(symbol: str, ends: list[int], *, horizon: int = 300, spread: float = 0.01) -> pa.Table:
    n = len(ends)
    return _rows(BAR_REALIZED_SPREAD_SCHEMA, n, symbol=[symbol] * n, bar_end_ns=ends, bar_seconds=[60] * n,
                 horizon_seconds=[horizon] * n, n_trades=[2] * n, matched_volume=[200.0] * n,
                 realized_spread=[spread] * n, tick_price=[100.0 + e for e in range(n)], tick_sign=[1] * n)


class Heard:
    """A write listener recording what it is told."""

    def __init__(self) -> None:
        self.heard: list[tuple[Any, ...]] = []

    def attached(self) -> None:
        self.heard.append(("attached",))

    def trades_written(self, batch: pa.Table) -> None:
        self.heard.append(("trades_written", batch.num_rows))

    def signals_written(self, signals: pa.Table, states: Any) -> None:
        self.heard.append(("signals_written", signals.to_pylist(), list(states)))

    def signals_reset(self, symbols: Any, bar_seconds: int) -> None:
        self.heard.append(("signals_reset", list(symbols), bar_seconds))

    def realized_written(self, rows: pa.Table) -> None:
        self.heard.append(("realized_written", rows.column("bar_end_ns").to_pylist()))

    def write_failed(self, error: BaseException) -> None:
        self.heard.append(("write_failed", str(error)))


def _fits(symbol: str) -> pa.Table:
    return _rows(MODEL_PARAMS_SCHEMA, 1, symbol=[symbol], model=["garch11"], bar_seconds=[60], fit_start_ns=[60],
                 fit_end_ns=[120], n_obs=[2], omega=[1e-6], alpha=[0.1], beta=[0.8], converged=[True], fitted_at_ns=[7])


def _profile(symbol: str) -> pa.Table:
    return _rows(INTRADAY_PROFILE_SCHEMA, 1, symbol=[symbol], bar_seconds=[60], session_open_ns=[0], bucket=[3],
                 minutes_after_open=[3.0], factor=[1.25], n_obs=[4.0], sessions=[2], computed_at_ns=[7])


def _liquidity(symbol: str, end: int) -> pa.Table:
    return _rows(BAR_LIQUIDITY_SCHEMA, 1, symbol=[symbol], bar_end_ns=[end], bar_seconds=[60], n_quotes=[5],
                 quoted_spread=[0.5], buy_volume=[300.0], sell_volume=[100.0], signed_volume=[200.0])


def test_signals_commit_with_fits_profiles_liquidity_and_realized_rows_in_any_column_order(storage):
    heard = Heard()
    storage.add_write_listener(heard)
    state = SignalStateRow("AAPL", 60, 120, '{"v":1}')
    realized = _realized("AAPL", [60, 999])  # 999: no such bar, so no row
    storage.commit_signals(_reversed(_signal_rows("AAPL", [60, 120])), [state], _reversed(_fits("AAPL")),
                           _reversed(_profile("AAPL")), _reversed(_liquidity("AAPL", 120)), _reversed(realized))
    assert storage.fetch_all("SELECT symbol, model, fit_end_ns, alpha, beta, converged FROM model_params") == [
        ("AAPL", "garch11", 120, 0.1, 0.8, True)]
    assert storage.fetch_all("SELECT symbol, bucket, factor, sessions FROM intraday_profile") == [("AAPL", 3, 1.25, 2)]
    assert storage.fetch_all("SELECT symbol, bar_end_ns, n_quotes, quoted_spread, signed_volume FROM bar_liquidity") \
        == [("AAPL", 120, 5, 0.5, 200.0)]
    assert storage.fetch_all("SELECT symbol, bar_end_ns, horizon_seconds, realized_spread FROM bar_realized_spread") \
        == [("AAPL", 60, 300, 0.01)]
    assert storage.load_signal_states(60) == {"AAPL": state}
    (_, signals, states), realized_told = heard.heard[1], heard.heard[2]
    assert [(r["bar_end_ns"], r["quoted_spread"], r["signed_volume"]) for r in signals] == [
        (60, None, None), (120, 0.5, 200.0)]  # the liquidity measures beside their bar, as the tools read them
    assert states == [state] and realized_told == ("realized_written", [60, 999]) and len(heard.heard) == 3


def test_a_signals_commit_that_fails_keeps_none_of_its_tables(storage):
    heard = Heard()
    storage.add_write_listener(heard)
    with pytest.raises(duckdb.Error):
        storage.commit_signals(_signal_rows("AAPL", [60]), [SignalStateRow("AAPL", 60, 60, None)],  # type: ignore[arg-type]
                               _fits("AAPL"), _profile("AAPL"), _liquidity("AAPL", 60), _realized("AAPL", [60]))
    for table in ("trading_signals", "model_params", "intraday_profile", "bar_liquidity", "bar_realized_spread"):
        assert storage.fetch_one(f"SELECT count(*) FROM {table}")[0] == 0, table
    assert heard.heard == [("attached",)]


def test_empty_side_tables_and_no_states_commit_the_signals_alone(storage):
    heard = Heard()
    storage.add_write_listener(heard)
    empty_fits = _fits("AAPL").slice(0, 0).select(["symbol", "model"])  # no rows: neither cast nor inserted
    storage.commit_signals(_signal_rows("AAPL", [60]), [], empty_fits, _profile("AAPL").slice(0, 0),
                           _liquidity("AAPL", 60).slice(0, 0), _realized("AAPL", [60]).slice(0, 0))
    assert storage.fetch_all("SELECT symbol, bar_end_ns FROM trading_signals") == [("AAPL", 60)]
    assert storage.load_signal_states(60) == {}
    assert [h[0] for h in heard.heard] == ["attached", "signals_written"]  # no realized rows: nothing to tell


def test_realized_rows_are_written_once_for_stored_bars_only(storage):
    heard = Heard()
    storage.commit_signals(_signal_rows("AAPL", [60, 120, 180]), [])
    assert storage.write_realized_spread(_realized("AAPL", [60]).slice(0, 0)) == 0
    storage.add_write_listener(heard)
    assert storage.write_realized_spread(_reversed(_realized("AAPL", [60, 120, 240]))) == 2  # 240: no bar
    assert storage.write_realized_spread(_realized("AAPL", [60, 120], spread=0.5)) == 0  # a bar keeps its row
    assert storage.write_realized_spread(_realized("AAPL", [180], spread=0.2)) == 1  # one row
    rows = "SELECT bar_end_ns, realized_spread, tick_price FROM bar_realized_spread ORDER BY 1"
    assert storage.fetch_all(rows) == [(60, 0.01, 100.0), (120, 0.01, 101.0), (180, 0.2, 100.0)]
    assert heard.heard == [("attached",), ("realized_written", [60, 120, 240]),  # told when rows were added
                           ("realized_written", [180])]


def test_the_bars_due_for_realized_rows_follow_each_symbols_newest_row(storage):
    storage.commit_signals(pa.concat_tables([_signal_rows("AAPL", [60, 120, 180, 240]),
                                             _signal_rows("MSFT", [60, 120])]), [])
    storage.write_realized_spread(_realized("AAPL", [60, 120]))
    due, resume = storage.realized_spread_due(60, 300, 180)
    assert list(zip(due.column("symbol").to_pylist(), due.column("bar_end_ns").to_pylist())) == [
        ("AAPL", 180), ("MSFT", 60), ("MSFT", 120)]
    assert resume.select(["symbol", "bar_end_ns", "tick_price", "tick_sign"]).to_pylist() == [
        {"symbol": "AAPL", "bar_end_ns": 120, "tick_price": 101.0, "tick_sign": 1}]
    due, _ = storage.realized_spread_due(60, 300, 240)
    assert due.column("bar_end_ns").to_pylist() == [180, 240, 60, 120]
    assert storage.realized_spread_due(30, 300, 240)[0].num_rows == 0  # another grid has no bars


def test_realized_rows_of_another_horizon_are_deleted_and_recomputed(storage, caplog):
    storage.commit_signals(pa.concat_tables([_signal_rows("AAPL", [60, 120]), _signal_rows("MSFT", [60])]), [])
    storage.write_realized_spread(pa.concat_tables([_realized("AAPL", [60, 120], horizon=60),
                                                    _realized("MSFT", [60], horizon=300)]))
    heard = Heard()
    storage.add_write_listener(heard)
    caplog.set_level(logging.WARNING, logger="microstructure.sql")
    due, resume = storage.realized_spread_due(60, 300, 120)
    assert storage.fetch_all("SELECT symbol, bar_end_ns, horizon_seconds FROM bar_realized_spread") == [
        ("MSFT", 60, 300)]
    assert resume.column("symbol").to_pylist() == ["MSFT"]  # read again after the delete
    assert list(zip(due.column("symbol").to_pylist(), due.column("bar_end_ns").to_pylist())) == [
        ("AAPL", 60), ("AAPL", 120)]
    assert heard.heard == [("attached",), ("write_failed", "bar_realized_spread rows of another horizon than 300 s "
                                                           "deleted")]
    assert [r.getMessage() for r in caplog.records] == [
        "bar_realized_spread: 2 row(s) of another horizon than 300 s deleted; recomputing them"]
    heard.heard.clear()
    storage.realized_spread_due(60, 300, 120)  # one horizon now: nothing deleted, nobody told
    assert heard.heard == [] and len(caplog.records) == 1


def test_a_symbol_with_rows_of_two_horizons_loses_those_of_the_other(storage):
    storage.commit_signals(_signal_rows("AAPL", [60, 120, 180]), [])
    storage.write_realized_spread(pa.concat_tables([_realized("AAPL", [60], horizon=60),
                                                    _realized("AAPL", [120], horizon=300)]))
    due, resume = storage.realized_spread_due(60, 300, 180)
    assert storage.fetch_all("SELECT bar_end_ns, horizon_seconds FROM bar_realized_spread") == [(120, 300)]
    assert due.column("bar_end_ns").to_pylist() == [180] and resume.column("bar_end_ns").to_pylist() == [120]


def _market_days(storage: Any, days: int, *, symbol: str = "AAPL") -> None:
    """Trades and one-minute bars of ``symbol`` on ``days`` UTC days from DAY0 + 1 on (10:00-10:05 UTC)."""
    for d in range(1, days + 1):
        start = DAY0 + d * DAY + 10 * 3600 * NS
        storage.append_trades(trades(300, symbol=symbol, start_ns=start, id_prefix=f"{symbol}{d}-"))
        storage.commit_signals(_signal_rows(symbol, [start + k * 60 * NS for k in range(1, 6)]), [])


def _metric_days(storage: Any) -> list[tuple[str, int]]:
    return [(s, (d - DAY0 // DAY)) for s, d in storage.fetch_all(
        "SELECT symbol, epoch(session_date)::BIGINT // 86400 FROM daily_metrics ORDER BY 1, 2")]


def test_daily_metrics_are_written_for_final_days_only_once(storage):
    _market_days(storage, 3)
    _market_days(storage, 1, symbol="MSFT")
    assert storage.write_daily_metrics(60, DAY0 + 2 * DAY - 1) == 0  # in day 1: no day is final
    assert storage.write_daily_metrics(60, DAY0 + 2 * DAY) == 2  # day 1 is final (AAPL, MSFT); day 2 is not yet
    assert _metric_days(storage) == [("AAPL", 1), ("MSFT", 1)]
    assert storage.write_daily_metrics(60, DAY0 + 4 * DAY) == 2  # days 2 and 3 of AAPL
    assert _metric_days(storage) == [("AAPL", 1), ("AAPL", 2), ("AAPL", 3), ("MSFT", 1)]
    assert storage.write_daily_metrics(60, DAY0 + 5 * DAY) == 0  # nothing new became final
    assert storage.write_daily_metrics(30, DAY0 + 5 * DAY) == 0  # another grid has no bars
    rows = storage.fetch_all("SELECT bar_seconds, last_bar_end_ns, trades FROM daily_metrics ORDER BY symbol, "
                             "session_date")
    ends = [DAY0 + d * DAY + 10 * 3600 * NS + 5 * 60 * NS for d in (1, 2, 3, 1)]  # each day's last bar
    assert rows == [(60, end, 300) for end in ends]  # all 300 prints of each day count (conditions 12,37)


def test_daily_metrics_skip_the_read_until_a_day_becomes_final_or_a_final_bar_is_written(storage):
    _market_days(storage, 2)
    watermark = DAY0 + 3 * DAY + 5
    final_before = DAY0 + 3 * DAY
    assert storage.write_daily_metrics(60, watermark) == 2
    storage.execute_write("DELETE FROM daily_metrics")  # behind the writer's back: only a read finds it out
    assert storage.write_daily_metrics(60, watermark) == 0  # nothing became final: nothing read
    assert storage.write_daily_metrics(60, watermark + 7, oldest_new_bar_ns=final_before) == 0  # not a final bar
    assert storage.write_daily_metrics(60, watermark, oldest_new_bar_ns=final_before - 1) == 2  # a final day's bar
    storage.execute_write("DELETE FROM daily_metrics")
    assert storage.write_daily_metrics(60, watermark + DAY) == 2  # a later day became final: read again
    storage.execute_write("DELETE FROM daily_metrics")
    storage.reset_signals(["MSFT"], 60)  # a reset forgets where each grid was written to
    assert storage.write_daily_metrics(60, watermark + DAY) == 2


def _archive_quotes(storage: Any, quotes: pa.Table) -> None:
    """Put ``quotes`` (one market, symbol and UTC day) in the Parquet archive as retention would leave them: the
    file under ARCHIVE_PATH and its placed manifest row (``sql/duckdb/schema/010_archive_manifest.sql``)."""
    day = quotes.column("ts_ns")[0].as_py() // DAY
    path = f"quotes/market=stocks/day={day}/{quotes.column('symbol')[0].as_py()}.parquet"
    (storage.archive_root / path).parent.mkdir(parents=True)
    pq.write_table(quotes, storage.archive_root / path)
    storage.execute_write(
        "INSERT INTO archive_manifest VALUES ('quotes', 'stocks', DATE '1970-01-01' + $day::INTEGER, $symbol, $path, "
        "$path, $n, 0, '', 0, 0, 0, true)", {"day": day, "symbol": quotes.column("symbol")[0].as_py(), "path": path,
                                            "n": quotes.num_rows})


def test_one_quote_is_appended_and_the_batch_is_not_left_registered(storage):
    assert storage.append_quotes(_quotes(1)) == 1
    assert storage.fetch_one("SELECT count(*), min(sequence) FROM quotes") == (1, 0)
    with pytest.raises(duckdb.CatalogException):  # the writer's cursor holds no view of the batch after it
        storage.fetch_one("SELECT count(*) FROM quotes_batch")


def test_quotes_the_archive_holds_are_not_stored_again_and_new_ones_of_that_day_are(storage, caplog):
    archived = _quotes(3)
    _archive_quotes(storage, archived)
    with caplog.at_level(logging.INFO, logger="microstructure.archive"):
        assert storage.append_quotes(archived) == 0  # every quote delivered again: nothing stored
    path = storage.fetch_one("SELECT path FROM duckdb_databases() WHERE database_name = 't'")[0]
    assert [r.getMessage() for r in caplog.records if "delivered again" in r.getMessage()] == [
        f"DUCKDB_PATH {path!r}: 3 quotes row(s) delivered again after their day was archived; the archive holds "
        "them, not stored twice"]  # the log names the file
    assert storage.append_quotes(archived.slice(1, 1)) == 0
    again = pa.concat_tables([archived.slice(0, 2), _quotes(4).slice(3, 1)])  # two again, one new (sequence 3)
    assert storage.append_quotes(again.select(list(reversed(again.schema.names)))) == 1
    stored = storage.fetch_all("SELECT symbol, ts_ns, sequence, bid_price, received_ns, source FROM quotes")
    t3 = 1_700_000_000_000_000_000 + 3 * 1_000_000
    assert stored == [("AAPL", t3, 3, 99.5, t3 + 5, "sim")]
    other_day = _quotes(2, ts0=T0 + DAY)  # a day the archive does not hold: stored as given
    assert storage.append_quotes(other_day) == 2


class _Minimal:
    """A listener without the optional ``realized_written`` whose ``trades_written`` fails."""

    def __init__(self) -> None:
        self.failed: list[str] = []

    def __repr__(self) -> str:
        return "<minimal listener>"

    def attached(self) -> None:
        pass

    def trades_written(self, batch: pa.Table) -> None:
        raise RuntimeError("minimal broke")

    def signals_written(self, signals: pa.Table, states: Any) -> None:
        pass

    def signals_reset(self, symbols: Any, bar_seconds: int) -> None:
        pass

    def write_failed(self, error: BaseException) -> None:
        self.failed.append(str(error))


def test_a_listener_without_an_optional_event_is_skipped_and_a_failing_one_is_logged(storage, caplog):
    minimal, heard = _Minimal(), Heard()
    storage.add_write_listener(minimal)
    storage.add_write_listener(heard)
    storage.commit_signals(_signal_rows("AAPL", [60]), [], realized=_realized("AAPL", [60]))
    assert heard.heard[-1] == ("realized_written", [60])  # told after the listener that does not take it
    caplog.set_level(logging.ERROR, logger="microstructure.sql")
    assert storage.append_trades(trades(2)) == 2  # the write stands
    assert minimal.failed == ["minimal broke"] and heard.heard[-1] == ("trades_written", 2)
    assert [(r.getMessage(), r.exc_info is not None) for r in caplog.records] == [
        ("write listener <minimal listener> failed on trades_written", True)]


def test_trades_the_archive_holds_are_not_stored_again_and_new_ones_of_that_day_are(storage):
    archived = trades(3)
    day = T0 // DAY
    path = f"trades/market=stocks/day={day}/AAPL.parquet"
    (storage.archive_root / path).parent.mkdir(parents=True)
    pq.write_table(archived, storage.archive_root / path)
    storage.execute_write(
        "INSERT INTO archive_manifest VALUES ('trades', 'stocks', DATE '1970-01-01' + $day::INTEGER, 'AAPL', $path, "
        "$path, 3, 0, '', 0, 0, 0, true)", {"day": day, "path": path})
    heard = Heard()
    storage.add_write_listener(heard)
    assert storage.append_trades(archived) == 0  # each delivered again: nothing stored, nobody told
    again = pa.concat_tables([archived.slice(1, 2), trades(4).slice(3, 1)])  # two again, one new (t3)
    assert storage.append_trades(again.select(list(reversed(again.schema.names)))) == 1
    assert storage.fetch_all("SELECT trade_id, ts_ns, price FROM market_data") == [("t3", T0 + 3 * NS, 100.03)]
    assert heard.heard == [("attached",), ("trades_written", 1)]  # told of the row stored, not of the batch
