"""Trades that share a timestamp come back in one explicit order on both backends.

The order key is ``ts_ns, COALESCE(sequence, 9223372036854775807), exchange, trade_id``: no part of it is ever
NULL (``exchange`` and ``trade_id`` are NOT NULL, a missing SIP sequence sorts last as the largest BIGINT), so
neither dialect's NULL placement can decide it. Vertica places NULLs of a query-level ``ORDER BY`` by type and
documents ``NULLS FIRST/LAST`` only inside window clauses; every Vertica file that orders trades, the
transform's window included, spells the same key as the DuckDB queries. The DuckDB queries run here on a real
file; the Vertica text is checked against them (the ``vertica``-marked tests run it where VERTICA_HOST is set).
"""

from __future__ import annotations

import re

import pyarrow as pa
import pytest

from sql.contract import TRADES_SCHEMA
from sql.duckdb_backend import DuckDBStorage
from sql.queries import load_registry
from sql.settings import Settings

pytestmark = pytest.mark.duckdb

KEY = "ts_ns, COALESCE(sequence, 9223372036854775807), exchange, trade_id"
BIGINT_MAX = 2**63 - 1
TS = 1_700_000_000_000_000_000

#: (symbol, ts_ns, sequence, exchange, trade_id); the price of row i is i, so the read order is visible.
ROWS = [
    ("AAPL", TS, None, 4, "b"), ("AAPL", TS, 7, 4, "z"), ("AAPL", TS, None, 2, "x"), ("AAPL", TS, 3, 9, "a"),
    ("AAPL", TS, 7, 1, "y"), ("AAPL", TS, None, 4, "a"), ("AAPL", TS - 1, None, 1, "q"), ("AAPL", TS + 1, 0, 1, "r"),
    ("MSFT", TS, None, 1, "m"), ("MSFT", TS, 1, 1, "n"),
]


def _sort_key(row: tuple[str, int, int | None, int, str]) -> tuple[int, int, int, str]:
    _, ts, seq, exchange, trade_id = row
    return ts, BIGINT_MAX if seq is None else seq, exchange, trade_id


def _batch() -> pa.Table:
    n = len(ROWS)
    return pa.table(
        {"market": ["stocks"] * n, "symbol": [r[0] for r in ROWS], "ts_ns": [r[1] for r in ROWS],
         "price": [float(i) for i in range(n)], "size": [1.0] * n, "exchange": [r[3] for r in ROWS],
         "trade_id": [r[4] for r in ROWS], "conditions": [None] * n, "tape": [None] * n,
         "sequence": [r[2] for r in ROWS], "trf_id": [None] * n, "trf_ts_ns": [None] * n,
         "received_ns": [TS] * n, "source": ["sim"] * n, "correction": [0] * n},
        schema=TRADES_SCHEMA,
    )


@pytest.fixture
def storage(tmp_path):
    store = DuckDBStorage.open(Settings(duckdb_path=tmp_path / "t.duckdb"))
    store.apply_schema()
    assert store.append_trades(_batch()) == len(ROWS)
    yield store
    store.close()


def _expected_prices(symbols: list[str]) -> list[float]:
    ranked = sorted(range(len(ROWS)), key=lambda i: (ROWS[i][0], *_sort_key(ROWS[i])))
    return [float(i) for i in ranked if ROWS[i][0] in symbols]


def test_duckdb_reads_same_timestamp_trades_in_the_documented_key_order(storage) -> None:
    table = storage.read_trades("AAPL", 0, 2**62)
    assert table.column("price").to_pylist() == _expected_prices(["AAPL"])


def test_duckdb_reads_many_symbols_each_in_the_documented_key_order(storage) -> None:
    table = storage.read_trades_many(["AAPL", "MSFT"], 0, 2**62)
    assert table.column("price").to_pylist() == _expected_prices(["AAPL", "MSFT"])


def _order_by(text: str) -> str:
    """The trailing query-level ORDER BY of a statement, whitespace-normalised."""
    code = re.sub(r"--[^\n]*", "", text)
    return " ".join(code.rsplit("ORDER BY", 1)[1].split()).rstrip(";").strip()


@pytest.mark.parametrize("name", ["trades_range", "trades_range_symbols"])
def test_both_dialects_order_trades_by_the_same_null_free_key(name: str) -> None:
    prefix = "symbol, " if name == "trades_range_symbols" else ""
    for dialect in ("duckdb", "vertica"):
        assert _order_by(load_registry(dialect, "queries")[name].text) == prefix + KEY, dialect


def test_the_vertica_transform_window_orders_each_partition_by_the_same_key() -> None:
    text = " ".join(load_registry("vertica", "transform")["udx_signals_to_stage"].text.split())
    windows = re.findall(r"OVER \(PARTITION BY \w+\.symbol ORDER BY ((?:[^()]|\([^()]*\))*)\)", text)
    assert len(windows) == 2  # the UDx partition and the row that carries the stored state
    for window in windows:  # quotes ride in the partition: kind right after the stamp puts a quote (1) after the
        # trades (0) of its stamp (a trade's prevailing quote is strictly before it); received_ns orders quotes only
        columns = re.sub(r"\b[a-z]\.", "", window).split(", ")
        assert columns[:2] == ["ts_ns", "kind"] and columns[-1] == "received_ns"
        assert ", ".join(c for c in columns if c not in ("kind", "received_ns")) == KEY
