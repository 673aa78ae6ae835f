"""Fast rules of ``DuckDBStorage``'s writes (``sql/duckdb_backend.py``: the appends, ``commit_signals``, the resets
and rewinds, ``write_realized_spread``, the listeners, ``execute_write``, ``checkpoint``), each as a user of the
file feels it: rows appended once, in the batch's order, with every column; a recommitted bar replacing its row;
a reset or rewind deleting exactly the rows its docstring names; listeners told once per commit of what was
written; the appends not waiting behind the transform's write lock; a read-only storage refusing every write.

One tiny file with the schema is built per module and copied per test (~50 ms), so the file runs in seconds (the
mutation row ``storage-write`` runs it first; ``test_duckdb_storage.py`` and the other files of the group cost
~90 s a surviving mutant). Expected rows are written out here, never computed by the module."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from sql.backend import SignalStateRow, StorageError
from sql.contract import (
    BAR_LIQUIDITY_SCHEMA,
    BAR_REALIZED_SPREAD_SCHEMA,
    INTRADAY_PROFILE_SCHEMA,
    MODEL_PARAMS_SCHEMA,
    QUOTES_SCHEMA,
    SIGNALS_SCHEMA,
    TRADES_SCHEMA,
)
from sql.duckdb_backend import DuckDBStorage
from sql.settings import Settings
from tests.sql.test_duckdb_storage import trades
from tests.sql.test_duckdb_write_paths import _quotes, _reversed, _rows

pytestmark = pytest.mark.duckdb

H = 300  # the realized rows' horizon


def _open(path: Path, *, read_only: bool = False) -> DuckDBStorage:
    return DuckDBStorage.open(Settings(_env_file=None, duckdb_path=path), read_only=read_only)  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A new file with the schema, checkpointed (copied per test)."""
    path = tmp_path_factory.mktemp("write-rules") / "template.duckdb"
    s = _open(path)
    s.apply_schema()
    s.checkpoint()
    s.close()
    return path


@pytest.fixture
def path(template, tmp_path) -> Path:
    copy = tmp_path / "f.duckdb"
    shutil.copy(template, copy)
    return copy


@pytest.fixture
def storage(path):
    s = _open(path)
    yield s
    s.close()


class Heard:
    """A write listener recording every event it is told, in order (hold it by a name: the storage holds it
    weakly)."""

    def __init__(self) -> None:
        self.heard: list[tuple[Any, ...]] = []
        self.trade_schemas: list[pa.Schema] = []

    def attached(self) -> None:
        self.heard.append(("attached",))

    def trades_written(self, batch: pa.Table) -> None:
        self.heard.append(("trades_written", batch.select(TRADES_SCHEMA.names).to_pylist()))
        self.trade_schemas.append(batch.schema)

    def signals_written(self, signals: pa.Table, states: Any) -> None:
        self.heard.append(("signals_written", signals.to_pylist(), list(states)))

    def signals_reset(self, symbols: Any, bar_seconds: int) -> None:
        self.heard.append(("signals_reset", list(symbols), bar_seconds))

    def realized_written(self, rows: pa.Table) -> None:
        self.heard.append(("realized_written", rows.to_pylist()))

    def write_failed(self, error: BaseException) -> None:
        self.heard.append(("write_failed", type(error), str(error)))


def _events(heard: Heard) -> list[str]:
    return [h[0] for h in heard.heard]


def _table(storage: DuckDBStorage, name: str, order: str) -> list[dict[str, Any]]:
    return storage._cursor().sql(f"SELECT * FROM {name} ORDER BY {order}").to_arrow_table().to_pylist()


def _bars(symbol: str, ends: list[int], *, seconds: int = 60, close: float = 1.0) -> pa.Table:
    """Signal rows with every column set (no NULL), distinct per bar."""
    n = len(ends)
    values: dict[str, list[Any]] = {
        "symbol": [symbol] * n, "bar_end_ns": ends, "bar_seconds": [seconds] * n, "n_trades": [3] * n,
        "volume": [300.0] * n, "vwap": [10.5] * n, "close": [close] * n, "log_return": [0.001 * e for e in ends],
        "garch_sigma": [0.02] * n, "standardized_return": [0.5] * n, "lee_mykland_stat": [1.5] * n,
        "jump_threshold": [4.0] * n, "jump_detected": [e % 120 == 0 for e in ends], "bns_stat": [0.25] * n,
        "trade_intensity_zscore": [0.75] * n, "conditional_duration": [1.25] * n, "acd_surprise": [0.125] * n,
        "vpin": [0.3] * n, "vpin_cdf": [0.6] * n, "trading_signal": ["HOLD"] * n, "signal_reason": ["why"] * n,
        "computed_at_ns": [7] * n}
    return pa.table({f.name: values[f.name] for f in SIGNALS_SCHEMA}, schema=SIGNALS_SCHEMA)


def _realized(symbol: str, ends: list[int], *, seconds: int = 60, spread: float = 0.01) -> pa.Table:
    n = len(ends)
    values: dict[str, list[Any]] = {
        "symbol": [symbol] * n, "bar_end_ns": ends, "bar_seconds": [seconds] * n, "horizon_seconds": [H] * n,
        "n_trades": [2] * n, "matched_volume": [200.0] * n, "realized_spread": [spread] * n,
        "price_impact": [0.5] * n, "tick_price": [100.0 + e for e in ends], "tick_sign": [-1] * n,
        "computed_at_ns": [9] * n}
    return pa.table({f.name: values[f.name] for f in BAR_REALIZED_SPREAD_SCHEMA}, schema=BAR_REALIZED_SPREAD_SCHEMA)


def _liquidity(symbol: str, ends: list[int], *, seconds: int = 60, spread: float = 0.5) -> pa.Table:
    n = len(ends)
    return _rows(BAR_LIQUIDITY_SCHEMA, n, symbol=[symbol] * n, bar_end_ns=ends, bar_seconds=[seconds] * n,
                 n_quotes=[5] * n, quoted_spread=[spread] * n, effective_spread=[0.25] * n,
                 buy_volume=[300.0] * n, sell_volume=[100.0] * n, signed_volume=[200.0] * n,
                 order_imbalance=[0.5] * n, depth_imbalance=[0.1] * n, amihud=[1e-6] * n, roll_spread=[0.02] * n,
                 kyle_lambda=[3e-4] * n, computed_at_ns=[8] * n, vpin_lee_ready=[0.4] * n)


def _fits(symbol: str, fit_ends: list[int], *, seconds: int = 60, alpha: float = 0.1) -> pa.Table:
    n = len(fit_ends)
    return _rows(MODEL_PARAMS_SCHEMA, n, symbol=[symbol] * n, model=["garch11"] * n, bar_seconds=[seconds] * n,
                 fit_start_ns=[0] * n, fit_end_ns=fit_ends, n_obs=[2] * n, omega=[1e-6] * n, alpha=[alpha] * n,
                 beta=[0.8] * n, loglik=[-3.5] * n, converged=[True] * n, scale=[1.5] * n, fitted_at_ns=[7] * n,
                 fingerprint=['{"f":1}'] * n)


def _profiles(symbol: str, opens: list[int], *, seconds: int = 60, factor: float = 1.25) -> pa.Table:
    n = len(opens)
    return _rows(INTRADAY_PROFILE_SCHEMA, n, symbol=[symbol] * n, bar_seconds=[seconds] * n, session_open_ns=opens,
                 bucket=[3] * n, minutes_after_open=[3.0] * n, factor=[factor] * n, n_obs=[4.0] * n,
                 sessions=[2] * n, fallback=[False] * n, computed_at_ns=[7] * n)


def _metrics_row(storage: DuckDBStorage, symbol: str, seconds: int, last_bar_end_ns: int, day: str) -> None:
    storage.execute_write(
        "INSERT INTO daily_metrics (symbol, session_date, bar_seconds, n_returns, jump_count, last_bar_end_ns, "
        "computed_at_ns) VALUES ($symbol, $day::DATE, $seconds, 1, 0, $last, 0)",
        {"symbol": symbol, "day": day, "seconds": seconds, "last": last_bar_end_ns})


def _one(storage: DuckDBStorage, sql: str) -> tuple:
    """The one row of ``sql`` (``fetch_all``: ``fetch_one`` leaves the cursor's result open, and DuckDB 2.0 then
    refuses the next ``register`` on that cursor)."""
    (row,) = storage.fetch_all(sql)
    return row


def _free_of(lock: Any, write: Any) -> bool:
    """Whether ``write`` finishes while ``lock`` is held here (10 s: ample on a loaded box)."""
    return not _waits_for(lock, write, 10.0)


def _in_thread(target: Any) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def _waits_for(lock: Any, write: Any, patience: float = 0.3) -> bool:
    """Whether ``write`` on another thread is still running ``patience`` seconds after it started while ``lock`` is
    held here (it must finish once the lock is free)."""
    with lock:
        thread = _in_thread(write)
        thread.join(patience)
        waited = thread.is_alive()
    thread.join(10)
    assert not thread.is_alive()
    return waited


# --- appends ---------------------------------------------------------------------------------------------------

def test_trades_are_appended_once_in_the_batchs_order_with_every_column(storage):
    batch = trades(5, symbol="AA").take([3, 0, 4, 1, 2])  # not in time order: stored as given
    assert storage.append_trades(_reversed(batch)) == 5
    assert _table(storage, "market_data", "rowid") == batch.to_pylist()
    assert storage.append_trades(batch) == 0  # every key stored already
    assert storage.append_trades(pa.concat_tables([trades(7, symbol="AA").slice(5), batch])) == 2
    assert _one(storage, "SELECT count(*) FROM market_data") == (7,)


def test_of_trades_sharing_a_key_in_one_batch_only_the_first_is_stored(storage):
    first = trades(2, symbol="BB")
    again = first.set_column(first.schema.get_field_index("price"), first.schema.field("price"), pa.array([7.0, 8.0]))
    assert storage.append_trades(pa.concat_tables([first, again])) == 2
    assert storage.fetch_all("SELECT trade_id, price FROM market_data ORDER BY rowid") == [("t0", 100.0),
                                                                                         ("t1", 100.01)]


def test_an_empty_batch_adds_nothing_and_tells_no_one(storage):
    heard = Heard()
    storage.add_write_listener(heard)
    assert storage.append_trades(trades(0)) == 0
    assert storage.append_quotes(_quotes(0)) == 0
    assert storage.write_realized_spread(_realized("AA", [])) == 0
    assert _one(storage, "SELECT (SELECT count(*) FROM market_data) + (SELECT count(*) FROM quotes)") == (0,)
    assert _events(heard) == ["attached"]


def test_listeners_hear_once_of_each_append_that_added_rows(storage):
    heard = Heard()
    storage.add_write_listener(heard)
    batch = trades(3, symbol="CC")
    storage.append_trades(batch)
    storage.append_trades(batch)  # nothing new: not told
    assert heard.heard == [("attached",), ("trades_written", batch.to_pylist())]


def _with_conditions(batch: pa.Table, conditions: list[str | None]) -> pa.Table:
    i = batch.schema.get_field_index("conditions")
    return batch.set_column(i, batch.schema.field(i), pa.array(conditions, pa.string()))


def test_listeners_are_told_of_trades_in_the_contracts_columns_and_types(storage):
    """A batch from a decoder that gives other integer types and another column order is stored and told as the
    contract's ``TRADES_SCHEMA`` (the in-memory readers join it to what they read from the file)."""
    heard = Heard()
    storage.add_write_listener(heard)
    batch = trades(2, symbol="FF")
    wide = pa.table({name: batch.column(name).cast(pa.int64()) if pa.types.is_int32(batch.schema.field(name).type)
                     else batch.column(name) for name in reversed(batch.schema.names)})
    assert storage.append_trades(wide) == 2
    (told,) = heard.trade_schemas
    assert pa.schema(list(told)[:len(TRADES_SCHEMA)]) == TRADES_SCHEMA
    assert heard.heard[1] == ("trades_written", batch.to_pylist())


def test_new_condition_strings_are_listed_once(path):
    for apply_schema in (True, False):  # a writer that did not apply the schema learns the listed strings
        s = _open(path)
        try:
            if apply_schema:
                s.apply_schema()
                before = {c for (c,) in s.fetch_all("SELECT conditions FROM trade_condition_sets")}
                s.append_trades(_with_conditions(trades(4, symbol="DD"), ["12,37", "", None, "12,37"]))
                s.append_trades(_with_conditions(trades(3, symbol="DD", id_prefix="v"), ["12,37", "14", "14"]))
            else:
                s.append_trades(_with_conditions(trades(2, symbol="DD", id_prefix="w"), ["14", "12,37"]))
                s.append_trades(_with_conditions(trades(1, symbol="DD", id_prefix="x"), ["9"]))
        finally:
            s.close()
    s = _open(path)
    try:
        after = [c for (c,) in s.fetch_all("SELECT conditions FROM trade_condition_sets")]
        assert _one(s, "SELECT count(*) FROM market_data") == (10,)
    finally:
        s.close()
    assert sorted(set(after) - before) == ["12,37", "14", "9"] and len(after) == len(set(after))
    assert "" not in after


def test_quotes_are_appended_every_row_with_every_column(storage):
    batch = _quotes(4)
    assert storage.append_quotes(_reversed(batch)) == 4
    assert storage.append_quotes(batch.slice(1, 2)) == 2  # quotes have no key: every row is stored
    assert _table(storage, "quotes", "rowid") == batch.to_pylist() + batch.slice(1, 2).to_pylist()
    assert QUOTES_SCHEMA.names == [r[0] for r in storage.fetch_all("DESCRIBE quotes")]


def test_appends_do_not_wait_for_the_transforms_write_lock(storage):
    assert _free_of(storage._write_lock, lambda: storage.append_trades(trades(2, symbol="EE")))
    assert _free_of(storage._write_lock, lambda: storage.append_quotes(_quotes(2)))
    assert _free_of(storage._quotes_lock, lambda: storage.append_trades(trades(3, symbol="EE")))
    assert _free_of(storage._market_lock, lambda: storage.append_quotes(_quotes(1)))
    assert _waits_for(storage._market_lock, lambda: storage.append_trades(trades(4, symbol="EE")))
    assert _waits_for(storage._quotes_lock, lambda: storage.append_quotes(_quotes(1)))
    assert _one(storage, "SELECT count(*) FROM market_data") == (4,)
    assert _one(storage, "SELECT count(*) FROM quotes") == (4,)


def test_the_transforms_writes_wait_for_the_write_lock_and_maintenance_for_every_lock(storage):
    assert _waits_for(storage._write_lock, lambda: storage.commit_signals(_bars("AA", [60]), []))
    assert _waits_for(storage._write_lock, lambda: storage.write_realized_spread(_realized("AA", [60])))
    assert _free_of(storage._market_lock, lambda: storage.commit_signals(_bars("AA", [120]), []))
    for lock in (storage._write_lock, storage._market_lock, storage._quotes_lock):
        assert _waits_for(lock, lambda: storage.execute_write("DELETE FROM quotes"))
        assert _waits_for(lock, storage.checkpoint)
    assert _one(storage, "SELECT count(*) FROM bar_realized_spread") == (1,)


# --- the transform's commits --------------------------------------------------------------------------------------

def test_a_signals_commit_stores_every_table_with_every_column_in_any_column_order(storage):
    bars, fits, profiles = _bars("AA", [60, 120]), _fits("AA", [120]), _profiles("AA", [0])
    liquidity, realized = _liquidity("AA", [60, 120]), _realized("AA", [60, 120])
    state = SignalStateRow("AA", 60, 120, '{"v":1}')
    stamp = storage.commit_signals(_reversed(bars), [state], _reversed(fits), _reversed(profiles),
                                   _reversed(liquidity), _reversed(realized))
    assert _table(storage, "trading_signals", "bar_end_ns") == bars.to_pylist()
    assert _table(storage, "model_params", "fit_end_ns") == fits.to_pylist()
    assert _table(storage, "intraday_profile", "session_open_ns") == profiles.to_pylist()
    assert _table(storage, "bar_liquidity", "bar_end_ns") == liquidity.to_pylist()
    assert _table(storage, "bar_realized_spread", "bar_end_ns") == realized.to_pylist()  # bars first, then rows
    assert _table(storage, "signal_state", "symbol") == [
        {"symbol": "AA", "bar_seconds": 60, "last_bar_end_ns": 120, "state": '{"v":1}', "updated_ns": stamp}]


def test_a_signals_commit_without_side_tables_writes_the_bars_and_states_only(storage):
    storage.commit_signals(_bars("AA", [60]), [SignalStateRow("AA", 60, 60, "s")], None, None, None,
                           _realized("AA", []))
    no_rows = pa.table({"symbol": pa.array([], pa.string())})  # no bars (a chunk without any): any schema
    storage.commit_signals(no_rows, [SignalStateRow("AA", 60, 60, "t")])  # the state only
    counts = _one(storage, "SELECT (SELECT count(*) FROM trading_signals), (SELECT count(*) FROM model_params), "
                               "(SELECT count(*) FROM intraday_profile), (SELECT count(*) FROM bar_liquidity), "
                               "(SELECT count(*) FROM bar_realized_spread)")
    assert counts == (1, 0, 0, 0, 0)
    assert storage.fetch_all("SELECT state FROM signal_state") == [("t",)]


def test_a_recommitted_bar_replaces_its_row_and_a_realized_row_stays(storage):
    storage.commit_signals(_bars("AA", [60, 120], close=1.0), [SignalStateRow("AA", 60, 120, "a")],
                           _fits("AA", [120], alpha=0.1), _profiles("AA", [0], factor=1.25),
                           _liquidity("AA", [60, 120], spread=0.5), _realized("AA", [60, 120], spread=0.01))
    storage.commit_signals(_bars("AA", [120, 180], close=2.0), [SignalStateRow("AA", 60, 180, "b")],
                           _fits("AA", [120], alpha=0.2), _profiles("AA", [0], factor=2.5),
                           _liquidity("AA", [120], spread=0.75), _realized("AA", [120, 180], spread=0.02))
    assert storage.fetch_all("SELECT bar_end_ns, close FROM trading_signals ORDER BY 1") == [
        (60, 1.0), (120, 2.0), (180, 2.0)]
    assert storage.fetch_all("SELECT fit_end_ns, alpha FROM model_params") == [(120, 0.2)]
    assert storage.fetch_all("SELECT session_open_ns, factor FROM intraday_profile") == [(0, 2.5)]
    assert storage.fetch_all("SELECT bar_end_ns, quoted_spread FROM bar_liquidity ORDER BY 1") == [
        (60, 0.5), (120, 0.75)]
    assert storage.fetch_all("SELECT bar_end_ns, realized_spread FROM bar_realized_spread ORDER BY 1") == [
        (60, 0.01), (120, 0.01), (180, 0.02)]  # a bar stored already keeps its row
    assert storage.fetch_all("SELECT last_bar_end_ns, state FROM signal_state") == [(180, "b")]


def test_listeners_hear_once_per_signals_commit_with_liquidity_states_and_realized_rows(storage):
    heard = Heard()
    storage.add_write_listener(heard)
    state = SignalStateRow("AA", 60, 120, "s")
    realized = _realized("AA", [60])
    storage.commit_signals(_bars("AA", [60, 120]), [state], liquidity=_liquidity("AA", [120]), realized=realized)
    storage.commit_signals(_bars("AA", [180]), [], realized=_realized("AA", []))
    assert _events(heard) == ["attached", "signals_written", "realized_written", "signals_written"]
    (_, signals, states), (_, told_realized) = heard.heard[1], heard.heard[2]
    assert [(r["bar_end_ns"], r["close"], r["quoted_spread"], r["kyle_lambda"]) for r in signals] == [
        (60, 1.0, None, None), (120, 1.0, 0.5, 3e-4)]
    assert states == [state] and told_realized == realized.to_pylist()
    assert [r["bar_end_ns"] for r in heard.heard[3][1]] == [180] and heard.heard[3][2] == []


def test_a_failed_signals_commit_keeps_nothing_and_tells_no_one(storage):
    heard = Heard()
    storage.add_write_listener(heard)
    with pytest.raises(duckdb.Error):
        storage.commit_signals(_bars("AA", [60]), [SignalStateRow("AA", 60, 60, None)],  # type: ignore[arg-type]
                               _fits("AA", [60]), _profiles("AA", [0]), _liquidity("AA", [60]), _realized("AA", [60]))
    assert _one(storage, "SELECT (SELECT count(*) FROM trading_signals) + (SELECT count(*) FROM model_params) + "
                             "(SELECT count(*) FROM bar_realized_spread) + (SELECT count(*) FROM signal_state)") == (0,)
    assert _events(heard) == ["attached"]


def test_state_stamps_rise_with_every_commit_of_any_storage(storage, monkeypatch):
    # the last stamp is process-wide: an earlier test of the session may have left one ahead of the clock
    monkeypatch.setattr(DuckDBStorage, "_last_stamp", 0)
    before = time.time_ns()
    first = storage.commit_signals(_bars("AA", [60]), [SignalStateRow("AA", 60, 60, "s")])
    other = DuckDBStorage(duckdb.connect(), read_only=False, query_timeout_s=5.0)  # another storage object
    between = other._state_stamp()
    second = storage.commit_signals(_bars("AA", [120]), [SignalStateRow("AA", 60, 120, "s")])
    assert before <= first < between < second <= time.time_ns()
    ahead = time.time_ns() + 10**15
    monkeypatch.setattr(DuckDBStorage, "_last_stamp", ahead)  # a stamp ahead of the clock (one written before)
    third = storage.commit_signals(_bars("AA", [180]), [SignalStateRow("AA", 60, 180, "s")])
    assert (third, other._state_stamp()) == (ahead + 1, ahead + 2)  # never one written before, the next one up
    assert storage.fetch_all("SELECT updated_ns FROM signal_state") == [(third,)]


# --- resets and rewinds --------------------------------------------------------------------------------------------

def _two_symbols_two_grids(storage: DuckDBStorage) -> None:
    """AA and BB on the 60 s grid, AA on the 300 s grid: bars 60, 120, 180 (300 s: 300, 600, 900), fits ending at
    each bar, profiles of sessions opening at 0, 120, 180, liquidity and realized rows of each bar, a state and
    daily metrics rows whose last bars end at 120 and 180."""
    for symbol, seconds, ends in (("AA", 60, [60, 120, 180]), ("BB", 60, [60, 120, 180]),
                                  ("AA", 300, [300, 600, 900])):
        storage.commit_signals(_bars(symbol, ends, seconds=seconds), [SignalStateRow(symbol, seconds, ends[-1], "s")],
                               _fits(symbol, ends, seconds=seconds), _profiles(symbol, [0, *ends[1:]], seconds=seconds),
                               _liquidity(symbol, ends, seconds=seconds), _realized(symbol, ends, seconds=seconds))
        for day, last in (("2026-01-01", ends[1]), ("2026-01-02", ends[2])):
            _metrics_row(storage, symbol, seconds, last, day)


_ENDS = {"trading_signals": "bar_end_ns", "model_params": "fit_end_ns", "intraday_profile": "session_open_ns",
         "bar_liquidity": "bar_end_ns", "bar_realized_spread": "bar_end_ns", "daily_metrics": "last_bar_end_ns",
         "signal_state": "last_bar_end_ns"}


def _stored(storage: DuckDBStorage) -> dict[str, list[tuple]]:
    return {table: storage.fetch_all(f"SELECT symbol, bar_seconds, {end} FROM {table} ORDER BY 1, 2, 3")
            for table, end in _ENDS.items()}


def _stored_and_heard(storage: DuckDBStorage) -> tuple[dict[str, list[tuple]], Heard]:
    """The rows of ``_two_symbols_two_grids`` and a listener added after them; the grid's final day cached."""
    _two_symbols_two_grids(storage)
    heard = Heard()
    storage.add_write_listener(heard)
    storage._metrics_final_before[60] = 5
    return _stored(storage), heard


def test_a_reset_deletes_every_row_of_its_symbols_on_its_grid_only(storage):
    _, heard = _stored_and_heard(storage)
    storage.reset_signals(["AA"], 60)
    stored = _stored(storage)
    for table in _ENDS:
        assert {(s, g) for s, g, _ in stored[table]} == {("BB", 60), ("AA", 300)}, table
    assert len(stored["trading_signals"]) == 6 and len(stored["daily_metrics"]) == 4
    assert heard.heard == [("attached",), ("signals_reset", ["AA"], 60)]
    assert storage._metrics_final_before == {}  # their days are written again once final


def test_a_reset_of_two_symbols_deletes_both(storage):
    _two_symbols_two_grids(storage)
    storage.reset_signals(["AA", "BB"], 60)
    assert {table: {(s, g) for s, g, _ in rows} for table, rows in _stored(storage).items()} == {
        table: {("AA", 300)} for table in _ENDS}


def test_a_rewind_deletes_the_rows_after_each_states_bar_and_stores_the_state(storage):
    before, heard = _stored_and_heard(storage)
    storage.rewind_signals([SignalStateRow("AA", 60, 120, "rewound"), SignalStateRow("BB", 60, 60, "rewound")])
    after = _stored(storage)
    for table in _ENDS:
        if table == "signal_state":
            continue
        kept = [r for r in before[table] if r[1] == 300 or r[2] <= {"AA": 120, "BB": 60}[r[0]]]
        assert after[table] == kept, table
    assert storage.fetch_all("SELECT symbol, bar_seconds, last_bar_end_ns, state FROM signal_state ORDER BY 1, 2") == [
        ("AA", 60, 120, "rewound"), ("AA", 300, 900, "s"), ("BB", 60, 60, "rewound")]
    assert heard.heard == [("attached",), ("write_failed", StorageError,
                                           "signals of 2 symbol(s) rewound for a recompute")]
    assert storage._metrics_final_before == {}


def test_a_rewind_of_no_state_changes_nothing_and_tells_no_one(storage):
    before, heard = _stored_and_heard(storage)
    storage.rewind_signals([])
    assert _stored(storage) == before and _events(heard) == ["attached"]
    assert storage._metrics_final_before == {60: 5}


# --- realized rows ---------------------------------------------------------------------------------------------

def test_realized_rows_are_inserted_once_for_stored_bars_and_told(storage):
    storage.commit_signals(_bars("AA", [60, 120, 180]), [])
    heard = Heard()
    storage.add_write_listener(heard)
    rows = _realized("AA", [60, 120, 999], spread=0.01)  # 999: no such bar
    assert storage.write_realized_spread(_reversed(rows)) == 2
    assert storage.write_realized_spread(_realized("AA", [120, 180], spread=0.05)) == 1
    assert storage.write_realized_spread(_realized("AA", [60], spread=0.05)) == 0  # not told
    assert _table(storage, "bar_realized_spread", "bar_end_ns") == [
        *rows.slice(0, 2).to_pylist(), *_realized("AA", [180], spread=0.05).to_pylist()]
    assert heard.heard == [("attached",), ("realized_written", rows.to_pylist()),
                           ("realized_written", _realized("AA", [120, 180], spread=0.05).to_pylist())]


# --- listeners --------------------------------------------------------------------------------------------------

def test_listeners_are_attached_first_kept_in_order_and_removed(storage):
    first, second, stranger = Heard(), Heard(), Heard()
    storage.add_write_listener(first)
    storage.add_write_listener(second)
    assert storage.write_listeners == (first, second)
    storage.remove_write_listener(stranger)  # never added: ignored
    storage.remove_write_listener(first)
    storage.remove_write_listener(first)
    assert storage.write_listeners == (second,)
    storage.append_trades(trades(1, symbol="AA"))
    assert _events(first) == ["attached"] and _events(second) == ["attached", "trades_written"]


def test_a_listener_nothing_else_holds_is_no_longer_told(storage):
    kept = Heard()
    storage.add_write_listener(Heard())  # dropped at once
    storage.add_write_listener(kept)
    storage.append_trades(trades(1, symbol="AA"))
    assert storage.write_listeners == (kept,) and len(storage._listeners) == 1
    assert _events(kept) == ["attached", "trades_written"]


class _Failing(Heard):
    def trades_written(self, batch: pa.Table) -> None:
        raise RuntimeError("listener broke")


class _Plain:
    """A listener without the optional ``realized_written``."""

    def __init__(self) -> None:
        self.signals = 0

    def attached(self) -> None:
        pass

    def signals_written(self, signals: pa.Table, states: Any) -> None:
        self.signals += 1


def test_a_failing_listener_is_told_the_write_stands_and_the_others_hear(storage):
    failing, other, plain = _Failing(), Heard(), _Plain()
    for listener in (failing, plain, other):
        storage.add_write_listener(listener)
    assert storage.append_trades(trades(2, symbol="AA")) == 2
    assert failing.heard == [("attached",), ("write_failed", RuntimeError, "listener broke")]
    assert _events(other) == ["attached", "trades_written"]
    assert _one(storage, "SELECT count(*) FROM market_data") == (2,)
    storage.commit_signals(_bars("AA", [60]), [], realized=_realized("AA", [60]))
    assert plain.signals == 1 and _events(other)[-2:] == ["signals_written", "realized_written"]


def test_adding_a_listener_waits_for_every_write_lock(storage):
    for lock in (storage._write_lock, storage._market_lock, storage._quotes_lock):
        assert _waits_for(lock, lambda: storage.add_write_listener(Heard()))
        assert _waits_for(lock, lambda: storage.remove_write_listener(Heard()))


# --- maintenance and read-only -------------------------------------------------------------------------------

def test_a_maintenance_statement_binds_its_parameters_and_commits(storage):
    storage.append_trades(trades(3, symbol="AA"))
    storage.append_trades(trades(2, symbol="BB"))
    storage.execute_write("DELETE FROM market_data WHERE symbol = $symbol", {"symbol": "AA"})
    assert storage.fetch_all("SELECT DISTINCT symbol FROM market_data") == [("BB",)]
    storage.execute_write("DELETE FROM market_data")
    assert _one(storage, "SELECT count(*) FROM market_data") == (0,)


def test_writes_that_can_move_the_realized_floors_drop_them_and_appends_keep_them(storage):
    def floored() -> None:
        storage._realized_floors[storage._file_key] = {(60, H): 600}

    storage.commit_signals(_bars("AA", [600]), [])
    for keep in (lambda: storage.append_trades(trades(2, symbol="AA")), lambda: storage.append_quotes(_quotes(2)),
                 lambda: storage.commit_signals(_bars("AA", [660]), []),
                 lambda: storage.write_realized_spread(_realized("AA", [660]))):
        floored()
        keep()
        assert storage._realized_floors.get(storage._file_key) == {(60, H): 600}
    for drop in (lambda: storage.execute_write("DELETE FROM quotes"), lambda: storage.reset_signals(["ZZ"], 60),
                 lambda: storage.rewind_signals([SignalStateRow("ZZ", 60, 0, "s")]),
                 lambda: storage.commit_signals(_bars("AA", [540]), []),
                 lambda: storage.write_realized_spread(_realized("AA", [540]))):
        floored()
        drop()
        assert not storage._realized_floors.get(storage._file_key)


def test_a_checkpoint_writes_the_log_into_the_file(storage, path):
    storage.append_trades(trades(50, symbol="AA"))
    wal = Path(f"{path}.wal")
    assert wal.exists() and wal.stat().st_size > 0
    storage.checkpoint()
    assert not wal.exists() or wal.stat().st_size == 0
    assert _one(storage, "SELECT count(*) FROM market_data") == (50,)


def test_a_read_only_storage_refuses_every_write(path):
    reader = _open(path, read_only=True)
    try:
        writes = [lambda: reader.append_trades(trades(1)), lambda: reader.append_quotes(_quotes(1)),
                  lambda: reader.commit_signals(_bars("AA", [60]), [SignalStateRow("AA", 60, 60, "s")]),
                  lambda: reader.write_realized_spread(_realized("AA", [60])),
                  lambda: reader.reset_signals(["AA"], 60),
                  lambda: reader.rewind_signals([SignalStateRow("AA", 60, 0, "s")]),
                  lambda: reader.execute_write("DELETE FROM quotes")]
        for write in writes:
            with pytest.raises(duckdb.Error):
                write()
        assert _one(reader, "SELECT (SELECT count(*) FROM market_data) + (SELECT count(*) FROM quotes)") == (0,)
    finally:
        reader.close()
