"""A trade or quote delivered again after retention archived its day (a replay of the same flat file, a Kafka
re-read) is not stored twice: ``DuckDBStorage.append_trades`` / ``append_quotes`` dedupe it against the archive's
Parquet files, while one of that day that is really new is stored (and archived by the next run)."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import duckdb
import numpy as np
import pytest

from ingest.quotes_flatfile import QUOTE_COLUMNS
from ingest.replay import COLUMNS, replay_file
from sql.settings import Settings
from udx.transform import run_transform

pytestmark = pytest.mark.duckdb
DuckDBStorage = pytest.importorskip("sql.duckdb_backend").DuckDBStorage
archive_module = pytest.importorskip("sql.archive")

NS = 10**9
DAY = 86_400 * NS
START = int(dt.datetime(2024, 3, 11, tzinfo=dt.UTC).timestamp()) * NS  # Monday
DAYS = 4
KEY = "market, symbol, exchange, trade_id, ts_ns"


def _settings(path: Path, **retain: int) -> Settings:
    return Settings(_env_file=None, duckdb_path=path, bar_seconds=60, lm_window=20,  # type: ignore[call-arg]
                    session_stocks="00:00-24:00 UTC", **{"retain_trades_days": 2, **retain})


def _write(path: Path, rows: list[tuple[str, str, int, float]]) -> None:
    """A trades_v1 file of ``(ticker, id, sip_timestamp, price)`` rows."""
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(COLUMNS)
        for ticker, trade_id, ts, price in rows:
            cells = {"ticker": ticker, "conditions": "", "correction": 0, "exchange": 11, "id": trade_id,
                     "participant_timestamp": ts - 300, "price": price, "sequence_number": 1, "sip_timestamp": ts,
                     "size": 10, "tape": 3, "trf_id": 0, "trf_timestamp": 0}
            out.writerow([cells[name] for name in COLUMNS])


@pytest.fixture
def flat(tmp_path: Path) -> tuple[Path, int]:
    rng = np.random.default_rng(7)
    rows = []
    for ticker, n in (("AAPL", 3_000), ("MSFT", 2_000)):
        ts = np.sort(rng.integers(START, START + DAYS * DAY, n))
        price = 100 * np.exp(np.cumsum(rng.normal(0, 2e-4, n)))
        rows += [(ticker, f"{ticker}-{k}", int(t), round(float(p), 4)) for k, (t, p) in enumerate(zip(ts, price))]
    path = tmp_path / "trades.csv"
    _write(path, rows)
    return path, len(rows)


def _counts(storage: DuckDBStorage) -> tuple[int, int, int]:
    """Rows of trades_all, distinct keys among them, live rows."""
    return storage.fetch_all(f"SELECT count(*), count(DISTINCT ({KEY})), (SELECT count(*) FROM market_data) "
                             "FROM trades_all")[0]  # type: ignore[return-value]


def test_a_replay_after_the_archive_stores_nothing_twice_and_a_new_trade_of_an_archived_day_is_kept(
        tmp_path: Path, flat: tuple[Path, int]) -> None:
    path, n = flat
    settings = _settings(tmp_path / "x.duckdb")
    storage = DuckDBStorage.open(settings)
    try:
        storage.apply_schema()
        assert replay_file(path, storage=storage, progress=False).added == n
        run_transform(storage, settings, now_ns=1)
        assert replay_file(path, storage=storage, progress=False).added == 0  # learns "nothing archived" first
        report = archive_module.archive(storage, settings)
        assert report.partitions == 4 and not report.waiting  # Monday and Tuesday of both symbols
        total, keys, live = _counts(storage)
        assert total == keys == n and 0 < live < n
        assert replay_file(path, storage=storage, progress=False).added == 0  # the same process, right after
        assert _counts(storage) == (n, n, live)
        late = tmp_path / "late.csv"
        _write(late, [("AAPL", "AAPL-new", START + DAY // 2, 101.0)])
        assert replay_file(late, storage=storage, progress=False).added == 1  # really new: stored live
        assert _counts(storage) == (n + 1, n + 1, live + 1)
        archive_module.archive(storage, settings)  # it joins its archived day as a new part
        assert _counts(storage) == (n + 1, n + 1, live)
    finally:
        storage.close()
    storage = DuckDBStorage.open(settings)  # another process: learns the archived days from the manifest
    try:
        storage.apply_schema()
        assert replay_file(path, storage=storage, progress=False).added == 0
        assert replay_file(late, storage=storage, progress=False).added == 0
        assert _counts(storage) == (n + 1, n + 1, live)
    finally:
        storage.close()


def test_a_batch_mixing_archived_and_new_days_keeps_only_what_is_new(tmp_path: Path, flat: tuple[Path, int]) -> None:
    path, n = flat
    settings = _settings(tmp_path / "x.duckdb")
    storage = DuckDBStorage.open(settings)
    try:
        storage.apply_schema()
        replay_file(path, storage=storage, progress=False)
        run_transform(storage, settings, now_ns=1)
        archive_module.archive(storage, settings)
        with duckdb.connect() as con:  # every stored trade again, plus one new per archived and per live day
            again = con.execute("SELECT * FROM read_csv($p, all_varchar = true)", {"p": str(path)}).fetchall()
        rows = [(r[0], r[4], int(r[8]), float(r[6])) for r in again]
        rows += [("MSFT", f"new-{d}", START + d * DAY + 7 * NS, 99.0) for d in range(DAYS)]
        mixed = tmp_path / "mixed.csv"
        _write(mixed, sorted(rows, key=lambda r: r[2]))
        assert replay_file(mixed, storage=storage, progress=False).added == DAYS
        total, keys, _ = _counts(storage)
        assert total == keys == n + DAYS
    finally:
        storage.close()


def _write_quotes(path: Path, rows: list[tuple[str, int, float, int]]) -> None:
    """A quotes_v1 file of ``(ticker, sip_timestamp, bid_price, sequence_number)`` rows."""
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(QUOTE_COLUMNS)
        for ticker, ts, bid, sequence in rows:
            cells = {"ticker": ticker, "ask_exchange": 12, "ask_price": round(bid + 0.02, 4), "ask_size": 3,
                     "bid_exchange": 11, "bid_price": bid, "bid_size": 2, "conditions": "", "indicators": "",
                     "participant_timestamp": ts - 200, "sequence_number": sequence, "sip_timestamp": ts, "tape": 3,
                     "trf_timestamp": ""}
            out.writerow([cells[name] for name in QUOTE_COLUMNS])


def _quote_counts(storage: DuckDBStorage) -> tuple[int, int, int]:
    """Rows of quotes_all, distinct quotes among them (every column but received_ns and source), live rows."""
    return storage.fetch_all("SELECT count(*), count(DISTINCT (market, symbol, ts_ns, bid_price, bid_size, ask_price, ask_size, "
                             "bid_exchange, ask_exchange, conditions, sequence, tape)), "
                             "(SELECT count(*) FROM quotes) FROM quotes_all")[0]  # type: ignore[return-value]


def test_a_quotes_file_replayed_after_its_archive_stores_nothing_twice_and_a_new_quote_is_kept(
        tmp_path: Path, flat: tuple[Path, int]) -> None:
    trades, _ = flat
    rng = np.random.default_rng(8)
    ts = np.sort(rng.integers(START, START + DAYS * DAY, 1_500))
    quotes = tmp_path / "quotes.csv"
    _write_quotes(quotes, [("AAPL", int(t), round(99.0 + float(b), 2), k)
                           for k, (t, b) in enumerate(zip(ts, rng.uniform(0, 2, ts.size)))])
    settings = _settings(tmp_path / "x.duckdb", retain_quotes_days=2)
    storage = DuckDBStorage.open(settings)
    try:
        storage.apply_schema()
        replay_file(trades, storage=storage, progress=False)
        assert replay_file(quotes, storage=storage, progress=False).added == ts.size
        run_transform(storage, settings, now_ns=1)
        archive_module.archive(storage, settings)
        total, distinct, live = _quote_counts(storage)
        assert total == distinct == ts.size and 0 < live < ts.size
        assert replay_file(quotes, storage=storage, progress=False).added == live  # the live days: stored again (no live key)
        assert _quote_counts(storage) == (ts.size + live, ts.size, 2 * live)
        late = tmp_path / "late.csv"
        archived_ts = int(ts[0])  # Monday: archived
        _write_quotes(late, [("AAPL", archived_ts, 42.0, 10**6)])  # a stamp the archive holds, another quote
        assert replay_file(late, storage=storage, progress=False).added == 1
    finally:
        storage.close()
    storage = DuckDBStorage.open(settings)  # another process: learns the archived days from the manifest
    try:
        storage.apply_schema()
        before = _quote_counts(storage)
        assert replay_file(quotes, storage=storage, progress=False).added == live
        assert _quote_counts(storage)[0] == before[0] + live
    finally:
        storage.close()
