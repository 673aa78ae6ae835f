"""The Vertica backend: COPY text here; a real server (schema, dedupe, pages, UDx) where VERTICA_HOST is set.

The integration tests need a Vertica database they may write to (``VERTICA_HOST``, ``VERTICA_PORT``,
``VERTICA_DB``, ``VERTICA_USER``, ``VERTICA_PASS``, e.g. the ``vertica`` service of docker-compose.yml);
they create the contract tables in the user's default schema. The UDx test also needs
``VERTICA_UDX_LIBRARY`` and ``VERTICA_UDX_DEPENDS`` (paths on the Vertica nodes, see docs/scale-out.md).
"""

from __future__ import annotations

import math
import os
import time

import numpy as np
import pyarrow as pa
import pytest

from sql.backend import SignalStateRow
from sql.contract import QUOTES_SCHEMA, TRADES_SCHEMA
from sql.settings import Settings
from sql.vertica_backend import copy_rows, copy_statement, udx_settings_json
from tests.sql.vertica_on_duckdb import parse_copy


def trades(n: int, *, symbol: str = "AAPL", start_ns: int = 1_700_000_000_000_000_000, prefix: str = "t") -> pa.Table:
    ts = start_ns + np.arange(n, dtype=np.int64) * 1_000_000_000
    return pa.table(
        {
            "market": ["stocks"] * n, "symbol": [symbol] * n, "ts_ns": ts, "price": 100.0 + np.arange(n) * 0.01,
            "size": np.full(n, 100.0), "exchange": pa.array([4] * n, pa.int32()),
            "trade_id": [f"{prefix}{i}" for i in range(n)], "conditions": ["12,37"] * n,
            "tape": pa.array([3] * n, pa.int32()), "sequence": pa.array(range(n), pa.int64()),
            "trf_id": pa.array([None] * n, pa.int32()), "trf_ts_ns": pa.array([None] * n, pa.int64()),
            "received_ns": ts + 1000, "source": ["sim"] * n, "correction": pa.array([0] * n, pa.int32()),
        },
        schema=TRADES_SCHEMA,
    )


def test_copy_text_round_trips_strings_nulls_and_doubles() -> None:
    nasty = ["plain", "a|b", "it's", "back\\slash", "line\nbreak", "", None, "ünï"]
    table = pa.table({"s": pa.array(nasty, pa.string()),
                      "f": pa.array([0.1, 1 / 3, 1e-300, -2.5e20, None, math.nan, math.inf, 7.0]),
                      "i": pa.array([1, None, -(2**62), 0, 5, 6, 7, 8], pa.int64()),
                      "b": pa.array([True, False, None, True, False, True, False, True])})
    rows = parse_copy(copy_rows(table))
    assert [r[0] for r in rows] == nasty  # '' stays an empty string, None is NULL
    floats = [None if r[1] is None else float(r[1]) for r in rows]
    assert floats[:4] == [0.1, 1 / 3, 1e-300, -2.5e20]  # bit for bit
    assert floats[4:7] == [None, None, None]  # NaN and inf load as NULL, as in the DuckDB rows
    assert [r[2] for r in rows] == ["1", None, str(-(2**62)), "0", "5", "6", "7", "8"]
    assert [r[3] for r in rows][:3] == ["true", "false", None]
    assert copy_rows(table.slice(0, 0)) == ""


def test_copy_statement_names_the_stage_and_does_not_commit() -> None:
    text = copy_statement("market_data_stage", TRADES_SCHEMA.names)
    assert text.startswith("COPY market_data_stage (market, symbol, ts_ns,") and text.endswith("NO COMMIT")
    assert "DELIMITER '|'" in text and "ENCLOSED BY ''''" in text and "ABORT ON ERROR" in text
    # without ENFORCELENGTH Vertica truncates a string longer than its column silently instead of rejecting it
    assert "ENFORCELENGTH" in text


def test_udx_settings_never_carry_secrets() -> None:
    settings = Settings(_env_file=None, vertica_pass="s3cret", mcp_auth_token="tok3n",  # type: ignore[call-arg]
                        polygon_api_key="k3y", bar_seconds=30)
    text = udx_settings_json(settings)
    assert "s3cret" not in text and "tok3n" not in text and "k3y" not in text and "*****" not in text
    assert '"bar_seconds":30' in text


# --- a real Vertica --------------------------------------------------------------------------------------
needs_vertica = pytest.mark.skipif(not os.environ.get("VERTICA_HOST"),
                                   reason="VERTICA_HOST is not set: no Vertica server to test against")


@pytest.fixture
def vertica():
    from sql.vertica_backend import VerticaStorage

    settings = Settings(db_backend="vertica", mcp_query_timeout_ms=3000)  # VERTICA_* from the environment
    storage = VerticaStorage.open(settings)
    storage.apply_schema()
    with storage._write() as cursor:  # a clean slate: these tests own the tables of this schema
        for table in ("market_data", "quotes", "trading_signals", "model_params", "signal_state", "bar_liquidity",
                      "daily_metrics"):
            cursor.execute(f"DELETE FROM {table}")
    yield storage, settings
    storage.close()


@pytest.mark.vertica
@needs_vertica
def test_vertica_schema_applies_twice_and_the_same_event_twice_is_one_row(vertica) -> None:
    storage, _ = vertica
    storage.apply_schema()
    assert storage.append_trades(trades(10)) == 10
    assert storage.append_trades(trades(10)) == 0
    assert storage.append_trades(pa.concat_tables([trades(12), trades(12)])) == 2
    table = storage.read_trades("AAPL", 0, 2**62)
    assert table.num_rows == 12 and table.column("ts_ns").to_pylist() == sorted(table.column("ts_ns").to_pylist())
    assert storage.trade_symbols() == [("stocks", "AAPL")]


@pytest.mark.vertica
@needs_vertica
def test_vertica_table_created_before_the_correction_column_gets_it_in_place(vertica) -> None:
    storage, _ = vertica
    old = trades(3, prefix="old")
    with storage._write() as cursor:  # market_data as it was before the column: drop it, then fill the rest
        cursor.execute("ALTER TABLE market_data DROP COLUMN IF EXISTS correction CASCADE")
        cursor.copy(copy_statement("market_data", old.column_names[:-1]), copy_rows(old.drop_columns(["correction"])))
    storage.apply_schema()
    storage.apply_schema()  # IF NOT EXISTS: a notice, not an error
    new = trades(2, prefix="new", start_ns=1_800_000_000_000_000_000)
    new = new.set_column(new.schema.get_field_index("correction"), new.schema.field("correction"),
                         pa.array([0, 12], pa.int32()))
    assert storage.append_trades(new) == 2
    with storage._write() as cursor:
        cursor.execute("SELECT column_name FROM v_catalog.columns WHERE table_name = 'market_data' "
                       "ORDER BY ordinal_position")
        assert [r[0] for r in cursor.fetchall()] == TRADES_SCHEMA.names
        cursor.execute("SELECT trade_id, correction FROM market_data ORDER BY ts_ns")
        assert cursor.fetchall() == [["old0", None], ["old1", None], ["old2", None], ["new0", 0], ["new1", 12]]


@pytest.mark.vertica
@needs_vertica
def test_vertica_every_named_query_runs_and_pages_truncate(vertica) -> None:
    from sql.queries import load_registry

    storage, _ = vertica
    storage.append_trades(trades(30))
    now = time.time_ns()
    for statement in load_registry("vertica", "queries"):
        if statement.name.startswith(("insert_", "upsert_", "write_")):  # writes: the reader session refuses them
            continue
        params = {p: None for p in statement.params}
        params.update({k: v for k, v in {"symbol": "AAPL", "symbols": ["AAPL"], "start_ns": 0, "end_ns": 2**62,
                                         "bar_seconds": 60, "now_ns": now, "start_date": "2000-01-01",
                                         "end_date": "2100-01-01"}.items() if k in params})
        storage.query(statement.name, params, 5)
    page = storage.query("enriched_data_page", {"symbol": "AAPL", "start_ns": 0, "end_ns": 2**62, "bar_seconds": 60,
                                                "after_ts_ns": None, "after_exchange": None,
                                                "after_trade_id": None}, 10)
    assert len(page.rows) == 10 and page.truncated


@pytest.mark.vertica
@needs_vertica
def test_vertica_commit_signals_upserts_rows_and_state(vertica) -> None:
    from udx.transform import run_transform

    storage, settings = vertica
    storage.append_trades(trades(3_000, start_ns=1_709_900_000_000_000_000))
    summary = run_transform(storage, settings.model_copy(update={"session_stocks": "00:00-24:00 UTC"}))
    assert summary.bars > 0
    states = storage.load_signal_states(settings.bar_seconds)
    assert set(states) == {"AAPL"} and isinstance(states["AAPL"], SignalStateRow)
    with storage._write() as cursor:  # the bar liquidity of every bar, in the same commit
        cursor.execute("SELECT COUNT(*), COUNT(quoted_spread), SUM(n_quotes) FROM bar_liquidity")
        assert cursor.fetchall() == [[summary.bars, 0, 0]]  # no quotes stored: no quote measures


@pytest.mark.vertica
@needs_vertica
@pytest.mark.skipif(not os.environ.get("VERTICA_UDX_LIBRARY"), reason="VERTICA_UDX_LIBRARY is not set")
def test_vertica_udx_installs_and_the_in_database_transform_equals_the_client_side_one(vertica) -> None:
    from udx.transform import run_transform

    storage, settings = vertica
    settings = settings.model_copy(update={"session_stocks": "00:00-24:00 UTC"})
    storage.install_udx(os.environ["VERTICA_UDX_LIBRARY"], os.environ["VERTICA_UDX_DEPENDS"])
    batch = trades(3_000, start_ns=1_709_900_000_000_000_000)
    storage.append_trades(batch)
    # a quote 1 ms before every third trade, so the bars' quote measures are not empty
    ts = np.asarray(batch.column("ts_ns"))[::3] - 1_000_000
    mid = np.asarray(batch.column("price"))[::3]
    n = ts.size
    storage.append_quotes(pa.table({
        "market": ["stocks"] * n, "symbol": ["AAPL"] * n, "ts_ns": ts, "bid_price": mid - 0.01,
        "bid_size": np.full(n, 3.0), "ask_price": mid + 0.01, "ask_size": np.full(n, 5.0),
        "bid_exchange": pa.array([4] * n, pa.int32()), "ask_exchange": pa.array([4] * n, pa.int32()),
        "conditions": [None] * n, "sequence": pa.array(range(n), pa.int64()), "tape": pa.array([3] * n, pa.int32()),
        "received_ns": ts, "source": ["sim"] * n}, schema=QUOTES_SCHEMA))  # fmt: skip
    in_db = storage.run_transform_in_database(settings, now_ns=1)
    page = {"symbols": None, "signal_type": None, "start_ns": 0, "end_ns": 2**62, "bar_seconds": 60,
            "after_bar_end_ns": None, "after_symbol": None}
    rows_in_db = storage.query("trading_signals_page", page, 1000).rows  # with the bar liquidity the UDx wrote
    with storage._write() as cursor:
        for table in ("trading_signals", "bar_liquidity", "signal_state"):
            cursor.execute(f"DELETE FROM {table}")
    client = run_transform(storage, settings, now_ns=1)
    assert in_db.bars == client.bars > 0
    assert storage.query("trading_signals_page", page, 1000).rows == rows_in_db
    with storage._write() as cursor:
        cursor.execute("SELECT COUNT(*), SUM(n_quotes) FROM bar_liquidity")
        bars, quotes = cursor.fetchall()[0]
    assert bars == client.bars and quotes > 0


@pytest.mark.vertica
@needs_vertica
def test_vertica_analyst_sql_returns_typed_rows_and_its_session_refuses_writes(vertica) -> None:
    from server.tools.analyst_sql import run_analyst_sql
    from sql.backend import StatementError, StorageError

    storage, settings = vertica
    storage.append_trades(trades(30))
    answer = run_analyst_sql(storage, settings, "SELECT symbol, COUNT(*) AS n FROM market_data GROUP BY symbol", 5)
    assert answer.page.rows == [["AAPL", 30]] and [c.name for c in answer.page.columns] == ["symbol", "n"]
    assert storage.run_sql("SELECT ts_ns FROM market_data", 7).truncated
    with pytest.raises((StatementError, StorageError)):  # past the guard: the READ ONLY session refuses it
        storage.run_sql("DELETE FROM market_data", 5)
    assert storage.run_sql("SELECT COUNT(*) FROM market_data", 1).table.column(0).to_pylist() == [30]
