"""sql/archive_dedupe.py's ArchivedDays called directly on an in-memory DuckDB with the shipped manifest table and
Parquet files of our own (milliseconds a test; mutation group ``archive-dedupe``). The expected rows are plain
Python over the rows written: a trade of a batch is left out iff a file the manifest lists for its folder, market,
UTC day and symbol (placed, else still staged) holds its key (market, symbol, exchange, trade_id, ts_ns); a quote
iff a file holds the same quote (every column but received_ns and source).
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sql.archive_dedupe import POSITIONS, ArchivedDays
from sql.contract import QUOTES_SCHEMA, TRADES_SCHEMA
from sql.queries import load_registry

NS = 10**9
DAY = 86_400 * NS
D0 = int(dt.datetime(2024, 3, 11, tzinfo=dt.UTC).timestamp()) * NS
DATE0 = dt.date(2024, 3, 11)
QUERIES = load_registry("duckdb", "queries")
MANIFEST_DDL = (Path(__file__).resolve().parents[2] / "sql" / "duckdb" / "schema" / "010_archive_manifest.sql").read_text()


def _trade(market: str, symbol: str, ts: int, trade_id: str, exchange: int = 1, price: float = 10.0) -> dict:
    return {"market": market, "symbol": symbol, "ts_ns": ts, "price": price, "size": 1.0, "exchange": exchange,
            "trade_id": trade_id, "conditions": None, "tape": None, "sequence": None, "trf_id": None,
            "trf_ts_ns": None, "received_ns": ts, "source": "a", "correction": None}


def _quote(market: str, symbol: str, ts: int, bid: float | None, source: str = "a") -> dict:
    return {"market": market, "symbol": symbol, "ts_ns": ts, "bid_price": bid, "bid_size": 1.0, "ask_price": 11.0,
            "ask_size": None, "bid_exchange": 1, "ask_exchange": 2, "conditions": None, "sequence": None,
            "tape": None, "received_ns": ts + 5, "source": source}


def _batch(rows: list[dict], schema: pa.Schema) -> pa.Table:
    table = pa.Table.from_pylist(rows, schema=schema)
    return table.append_column("batch_pos", pa.array(range(len(rows)), pa.int64()))


@pytest.fixture
def archive(tmp_path: Path):
    """A connection with archive_manifest, and ``put(folder, market, day, symbol, rows, schema, where)`` writing a
    file of ``rows`` placed (``where="placed"``), staged, or nowhere (listed, missing), with its manifest row."""
    con = duckdb.connect()
    con.execute(MANIFEST_DDL)
    root = tmp_path / "archive"

    def put(folder: str, market: str, day: dt.date, symbol: str, rows: list[dict], schema: pa.Schema,
            where: str = "placed") -> None:
        n = con.execute("SELECT count(*) FROM archive_manifest").fetchone()[0]
        path = f"{folder}/market={market}/date={day}/symbol={symbol}/part-{n}-0.parquet"
        staged = f".staging/{folder}/{n}/symbol={symbol}/data_0.parquet"
        target = {"placed": root / path, "staged": root / staged}.get(where)
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pylist(rows, schema=schema), target)
        con.execute("INSERT INTO archive_manifest VALUES (?, ?, ?, ?, ?, ?, ?, 0, '', 0, 0, ?, ?)",
                    [folder, market, day, symbol, path, staged, len(rows), n, where == "placed"])

    yield con, root, put
    con.close()


ARCHIVED = [_trade("stocks", "AAPL", D0 + 5, "1"), _trade("stocks", "AAPL", D0 + DAY - 1, "2"),
            _trade("stocks", "AAPL", D0, "3", exchange=4)]


def test_trades_delivered_again_are_left_out_and_every_other_row_stays(archive):
    con, root, put = archive
    put("trades", "stocks", DATE0, "AAPL", ARCHIVED, TRADES_SCHEMA)
    put("trades", "stocks", DATE0, "MSFT", [_trade("stocks", "MSFT", D0 + 9, "9")], TRADES_SCHEMA)
    days = ArchivedDays(QUERIES, root, "test")
    rows = [
        _trade("stocks", "AAPL", D0 + 5, "1", price=99.0),   # again (the key, not the price, says so)
        _trade("stocks", "AAPL", D0 + 5, "1", exchange=2),   # another exchange: new
        _trade("stocks", "AAPL", D0 + 6, "1"),               # another time: new
        _trade("stocks", "AAPL", D0 + DAY - 1, "2"),         # again, the day's last nanosecond
        _trade("stocks", "AAPL", D0 + DAY, "2"),             # the next day (not archived): new
        _trade("crypto", "AAPL", D0 + 5, "1"),               # another market: new
        _trade("stocks", "AAPL", D0, "3", exchange=4),       # again, the day's first nanosecond
        _trade("stocks", "MSFT", D0 + 5, "1"),               # another symbol's file does not hold it: new
        _trade("stocks", "AAPL", D0 - 1, "1"),               # the day before: new
    ]
    batch = _batch(rows, TRADES_SCHEMA)
    kept = days.without_archived(con, "trades", batch)
    assert kept.column("batch_pos").to_pylist() == [1, 2, 4, 5, 7, 8]
    with pytest.raises(duckdb.CatalogException):  # the batch checked does not stay registered on the cursor
        con.execute("SELECT count(*) FROM archive_check_batch")
    assert kept.schema == batch.schema and kept.to_pylist() == [batch.slice(i, 1).to_pylist()[0] for i in (1, 2, 4, 5, 7, 8)]


def test_a_batch_touching_no_archived_day_is_returned_as_it_is(archive):
    con, root, put = archive
    days = ArchivedDays(QUERIES, root, "test")
    batch = _batch([_trade("stocks", "AAPL", D0 + 5, "1")], TRADES_SCHEMA)
    assert days.without_archived(con, "trades", batch) is batch  # nothing archived at all
    put("trades", "stocks", DATE0, "AAPL", ARCHIVED, TRADES_SCHEMA)
    days.forget()
    for rows in ([_trade("stocks", "AAPL", D0 + DAY, "1")], [_trade("crypto", "AAPL", D0 + 5, "1")],
                 [_trade("stocks", "MSFT", D0 + 5, "new")], [_trade("stocks", "AAPL", D0 + 7, "new")]):
        batch = _batch(rows, TRADES_SCHEMA)
        assert days.without_archived(con, "trades", batch) is batch
    assert days.without_archived(con, "quotes", batch) is batch  # no quotes archived
    assert ArchivedDays(QUERIES, None, "test").without_archived(con, "trades", _batch(ARCHIVED, TRADES_SCHEMA)).num_rows == 3


def test_the_manifest_is_read_once_until_forgotten(archive):
    con, root, put = archive
    days = ArchivedDays(QUERIES, root, "test")
    batch = _batch(ARCHIVED, TRADES_SCHEMA)
    assert days.without_archived(con, "trades", batch) is batch
    put("trades", "stocks", DATE0, "AAPL", ARCHIVED, TRADES_SCHEMA)
    assert days.without_archived(con, "trades", batch) is batch  # the days read before: none
    days.forget()
    assert days.without_archived(con, "trades", batch).num_rows == 0


def test_a_file_still_in_staging_is_read_and_a_missing_one_is_logged_and_skipped(archive, caplog):
    con, root, put = archive
    put("trades", "stocks", DATE0, "AAPL", ARCHIVED[:1], TRADES_SCHEMA, where="staged")
    put("trades", "stocks", DATE0, "AAPL", ARCHIVED[1:2], TRADES_SCHEMA, where="nowhere")
    days = ArchivedDays(QUERIES, root, "test")
    batch = _batch(ARCHIVED, TRADES_SCHEMA)
    with caplog.at_level(logging.INFO, logger="microstructure.archive"):
        kept = days.without_archived(con, "trades", batch)
    assert kept.column("batch_pos").to_pylist() == [1, 2]
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert (logging.ERROR, "archived file trades/market=stocks/date=2024-03-11/symbol=AAPL/part-1-0.parquet is "
                           "missing: trades rows it held are not deduplicated against it") in messages
    assert (logging.INFO, "test: 1 trades row(s) delivered again after their day was archived; the archive holds "
                          "them, not stored twice") in messages
    # every file missing: the batch as it is
    con.execute("DELETE FROM archive_manifest WHERE path LIKE '%part-0-0%'")
    days.forget()
    assert days.without_archived(con, "trades", batch) is batch


def test_quotes_delivered_again_are_left_out_by_every_column_but_arrival(archive):
    con, root, put = archive
    archived = [_quote("stocks", "AAPL", D0 + 5, 9.0), _quote("stocks", "AAPL", D0 + 6, None)]
    put("quotes", "stocks", DATE0, "AAPL", archived, QUOTES_SCHEMA)
    put("trades", "crypto", DATE0, "AAPL", [_trade("crypto", "AAPL", D0 + 5, "1")], TRADES_SCHEMA)
    days = ArchivedDays(QUERIES, root, "test")
    rows = [_quote("stocks", "AAPL", D0 + 5, 9.0, source="replay"),  # again, another source and arrival
            _quote("stocks", "AAPL", D0 + 5, 9.5),                   # another bid: new
            _quote("stocks", "AAPL", D0 + 6, None),                  # again, NULL equal to NULL
            _quote("crypto", "AAPL", D0 + 5, 9.0)]                   # crypto quotes of that day were not archived
    batch = _batch(rows, QUOTES_SCHEMA)
    assert days.without_archived(con, "quotes", batch).column("batch_pos").to_pylist() == [1, 3]
    assert POSITIONS == {"trades": "archived_trade_positions", "quotes": "archived_quote_positions"}


def test_days_of_several_markets_and_symbols_in_one_batch(archive):
    con, root, put = archive
    put("trades", "stocks", DATE0, "AAPL", ARCHIVED, TRADES_SCHEMA)
    put("trades", "crypto", DATE0 + dt.timedelta(days=1), "X:BTC", [_trade("crypto", "X:BTC", D0 + DAY + 3, "b")],
        TRADES_SCHEMA)
    put("trades", "stocks", DATE0 + dt.timedelta(days=2), "MSFT", [_trade("stocks", "MSFT", D0 + 2 * DAY, "m")],
        TRADES_SCHEMA)
    days = ArchivedDays(QUERIES, root, "test")
    rows = [_trade("crypto", "X:BTC", D0 + DAY + 3, "b"), _trade("stocks", "AAPL", D0 + 5, "1"),
            _trade("stocks", "MSFT", D0 + 2 * DAY, "m"), _trade("crypto", "X:BTC", D0 + 3, "b"),
            _trade("stocks", "MSFT", D0 + DAY, "m")]
    assert days.without_archived(con, "trades", _batch(rows, TRADES_SCHEMA)).column("batch_pos").to_pylist() == [3, 4]
