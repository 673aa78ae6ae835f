"""The transform's in-memory states (:mod:`udx.state_cache`): used only while the stored row is the write they
came from. Every other writer (a reset, a rewind for a recompute, a second storage object on the file, a raw
update that stamps, a failed commit, a restart) makes the next pass use the stored row, and the rows of a
follow loop that hit the cache are exactly the rows of one pass."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from conftest import trades_from_parts
from sql.backend import SignalStateRow
from sql.contract import SIGNALS_SCHEMA
from tests.udx import test_incremental
from udx.recompute import prepare_recompute
from udx.state_cache import load_states
from udx.transform import run_transform

pytestmark = pytest.mark.duckdb
DuckDBStorage = pytest.importorskip("sql.duckdb_backend").DuckDBStorage

NS = 10**9
START = int(dt.datetime(2024, 3, 7, 18, tzinfo=dt.UTC).timestamp()) * NS
SIGNAL_COLUMNS = [f.name for f in SIGNALS_SCHEMA if f.name != "computed_at_ns"]
SYMBOLS = ("MSFT", "X:ETHUSD")
_settings = test_incremental._settings  # the same small 5-minute-bar settings as the incremental tests


def _trades() -> pa.Table:
    rng = np.random.default_rng(7)
    parts = []
    for market, symbol, n in (("crypto", "X:ETHUSD", 3000), ("stocks", "MSFT", 2500)):
        ts = np.sort(rng.integers(START, START + 40 * 3600 * NS, n))
        logp = np.cumsum(rng.normal(0, 1e-3, n))
        parts.append((market, symbol, ts, 50 * np.exp(logp), rng.integers(1, 50, n).astype(float)))
    table = trades_from_parts(parts)
    return table.take(pa.array(np.argsort(table.column("ts_ns").to_numpy(), kind="stable")))


TRADES = _trades()


def _open(path: Path):
    storage = DuckDBStorage.open(_settings(path))
    storage.apply_schema()
    return storage


def _stored(path_or_storage) -> dict[str, tuple[int, str]]:
    """The rows of signal_state, read with SQL (not through the cache)."""
    rows = path_or_storage.fetch_all("SELECT symbol, last_bar_end_ns, state FROM signal_state WHERE bar_seconds = 300")
    return {s: (int(end), text) for s, end, text in rows}


def _served(storage) -> dict[str, tuple[int, str]]:
    return {s: (v.last_bar_end_ns, v.state.to_json()) for s, v in load_states(storage, 300).items()}


def _dump(path: Path) -> tuple[list[tuple], list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as con:
        signals = con.execute(f"SELECT {', '.join(SIGNAL_COLUMNS)} FROM trading_signals "
                              "ORDER BY symbol, bar_seconds, bar_end_ns").fetchall()
        states = con.execute("SELECT symbol, last_bar_end_ns, state FROM signal_state ORDER BY symbol").fetchall()
    return signals, states


def _same(a: list[tuple], b: list[tuple]) -> bool:
    return len(a) == len(b) and all(
        u == v or (isinstance(u, float) and isinstance(v, float) and math.isnan(u) and math.isnan(v))
        for x, y in zip(a, b, strict=True) for u, v in zip(x, y, strict=True))


@pytest.fixture(scope="module")
def one_pass(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[tuple], list[tuple]]:
    path = tmp_path_factory.mktemp("one") / "one.duckdb"
    storage = _open(path)
    storage.append_trades(TRADES)
    run_transform(storage, _settings(path), now_ns=1)
    storage.close()
    return _dump(path)


class _Reads:
    """Counts the states a storage reads back (``load_signal_states_of``)."""

    def __init__(self, storage, monkeypatch: pytest.MonkeyPatch) -> None:
        self.symbols: list[str] = []
        real = storage.load_signal_states_of

        def spy(bar_seconds: int, symbols):
            self.symbols += list(symbols)
            return real(bar_seconds, symbols)

        monkeypatch.setattr(storage, "load_signal_states_of", spy)


def _half(storage, path: Path) -> None:
    storage.append_trades(TRADES.slice(0, TRADES.num_rows // 2))
    run_transform(storage, _settings(path), now_ns=2)


def _half_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Any, _Reads]:
    """A new file after one pass over the first half of the trades, and the spy on its state reads."""
    path = tmp_path / "db.duckdb"
    storage = _open(path)
    _half(storage, path)
    return path, storage, _Reads(storage, monkeypatch)


def test_a_pass_after_its_own_commit_reads_no_state_and_keeps_them_read_only(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, storage, reads = _half_read(tmp_path, monkeypatch)
    assert _served(storage) == _stored(storage) and set(_stored(storage)) == set(SYMBOLS)
    assert reads.symbols == []  # both states came from memory
    kept = load_states(storage, 300)["MSFT"].state
    with pytest.raises(ValueError, match="read-only"):
        kept.arrays[next(iter(kept.arrays))][0] = 1.0
    storage.close()


def test_every_other_writer_makes_the_next_pass_use_the_stored_row(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, storage, reads = _half_read(tmp_path, monkeypatch)
    # a second storage object on the file rewinds MSFT to an older state: a stored row of another write
    other = DuckDBStorage.open(_settings(path))
    before = _stored(storage)
    prepare_recompute(other, _settings(path), ["MSFT"], since_ns=START + 6 * 3600 * NS)
    assert _stored(storage)["MSFT"] != before["MSFT"]
    assert _served(storage) == _stored(storage)
    assert reads.symbols == ["MSFT"]
    # a reset (the row deleted) through this storage
    storage.reset_signals(["X:ETHUSD"], 300)
    assert _served(storage) == _stored(storage) and set(_served(storage)) == {"MSFT"}
    # a raw write of the row that stamps it anew (an older text of the state, same bar end)
    run_transform(storage, _settings(path), now_ns=3)
    older = before["MSFT"][1]
    end = before["MSFT"][0]
    other.execute_write("UPDATE signal_state SET state = $s, last_bar_end_ns = $e, updated_ns = updated_ns + 1 "
                        "WHERE symbol = 'MSFT'", {"s": older, "e": end})
    assert _served(storage)["MSFT"] == (end, older)
    other.close()
    storage.close()


def test_a_failed_commit_keeps_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "db.duckdb"
    storage = _open(path)
    _half(storage, path)
    before = _stored(storage)
    storage.append_trades(TRADES.slice(TRADES.num_rows // 2))
    backend = pytest.importorskip("sql.duckdb_backend")
    real = backend.signal_states_table

    def without_text(states, updated_ns):  # a NULL state: the upsert fails inside the transaction
        table = real(states, updated_ns)
        return table.set_column(table.schema.get_field_index("state"), "state",
                                pa.nulls(table.num_rows, pa.string()))

    monkeypatch.setattr(backend, "signal_states_table", without_text)
    with pytest.raises(Exception, match="(?i)null"):
        run_transform(storage, _settings(path), now_ns=3)
    monkeypatch.setattr(backend, "signal_states_table", real)
    assert _stored(storage) == before  # rolled back
    assert _served(storage) == before
    storage.close()


def test_follow_passes_on_one_storage_with_other_writers_between_equal_one_pass(
        tmp_path: Path, one_pass: tuple) -> None:
    path = tmp_path / "db.duckdb"
    storage = _open(path)
    cuts = [TRADES.num_rows * k // 6 for k in range(7)]
    for k in range(6):
        storage.append_trades(TRADES.slice(cuts[k], cuts[k + 1] - cuts[k]))
        run_transform(storage, _settings(path), now_ns=10 + k)
        if k == 2:  # a recompute by a second storage object on the file
            other = DuckDBStorage.open(_settings(path))
            prepare_recompute(other, _settings(path), ["X:ETHUSD"], since_ns=START + 8 * 3600 * NS)
            other.close()
        if k == 3:
            storage.reset_signals(["MSFT"], 300)
    storage.close()
    signals, states = _dump(path)
    assert _same(signals, one_pass[0])
    assert states == one_pass[1]


def test_a_restart_reads_the_stored_states(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    storage = _open(path)
    _half(storage, path)
    stored = _stored(storage)
    storage.close()
    again = DuckDBStorage.open(_settings(path))
    assert _served(again) == stored
    again.close()


def test_a_storage_without_stamps_reads_every_state(tmp_path: Path) -> None:
    path = tmp_path / "db.duckdb"
    storage = _open(path)
    _half(storage, path)

    class Plain:  # the protocol's load_signal_states only (a Vertica storage)
        def __init__(self) -> None:
            self.loads = 0

        def load_signal_states(self, bar_seconds: int) -> dict[str, SignalStateRow]:
            self.loads += 1
            return storage.load_signal_states(bar_seconds)

    plain = Plain()
    assert _served(plain) == _stored(storage) == _served(plain)
    assert plain.loads == 2
    storage.close()
