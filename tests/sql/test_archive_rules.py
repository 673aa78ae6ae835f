"""sql/archive.py on tiny real DuckDB files (no transform: the watermarks, bars and realized rows are inserted), its
answers derived by hand from the module's documented rules and checked with plain Python over the rows inserted:
which partitions leave and which wait, what each file holds, what the manifest records, what the ``*_all`` views
read afterwards (every row inserted, once), a second run, recovery of a run stopped between its commit and the
move, and the small helpers called directly (about a second a test; mutation group ``archive``).

The market (UTC days D0 = 2024-03-11, D1, D2; retention 1 day for every table, so D0 and D1 are due):

- ``AAPL`` (stocks): trades at D0 00:00 exactly, 00:05, 23:00, D1 00:00 exactly, 00:07, D2 00:01; watermark past
  everything; bars (60 s) ending D0 00:06, 23:01, D1 00:08, D2 00:02; realized rows for the two D0 bars (newest ends
  D0 23:01, after D0's last trade, before D1's first); one ``bar_liquidity`` row on D0 and one on D1. So D0 of
  every table leaves (signals with both followers' rows), D1 waits (its trades and bars lie after the newest
  realized row).
- ``BRK/A`` (stocks, a symbol whose folder name is URL-encoded): one trade and one quote at D0 00:03, watermark
  1 ns after it: leaves.
- ``MSFT`` (stocks): one trade at D0 00:04 with the watermark exactly at it: not past it, waits (and is left out
  of its chunk's export).
- ``X:BTCUSD`` (crypto): trades D0 00:01, D1 00:02 and a quote D0 00:01, no watermark: every partition waits.
- ``X:ETHUSD`` (crypto): one trade D0 00:02, watermark past it: leaves.
- ``ZZZ``: signals only, one bar of another grid (300 s) ending D0 00:10: no trades, so its market is ``unknown``;
  not on the grid, so it needs no daily row nor realized row: leaves.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import shutil
from pathlib import Path
from urllib.parse import unquote

import duckdb
import pyarrow as pa
import pytest

import sql.archive as archive_module
from sql.archive import ArchiveError, ArchiveReport, archive, fsync_dir, fsync_file
from sql.contract import QUOTES_SCHEMA, TRADES_SCHEMA
from sql.duckdb_backend import DuckDBStorage
from sql.settings import Settings

pytestmark = pytest.mark.duckdb

NS = 10**9
MIN = 60 * NS
DAY = 86_400 * NS
D0 = int(dt.datetime(2024, 3, 11, tzinfo=dt.UTC).timestamp()) * NS
D1, D2 = D0 + DAY, D0 + 2 * DAY
DATE0, DATE1 = dt.date(2024, 3, 11), dt.date(2024, 3, 12)

TRADES = [("stocks", "AAPL", D0), ("stocks", "AAPL", D0 + 5 * MIN), ("stocks", "AAPL", D0 + 23 * 60 * MIN),
          ("stocks", "AAPL", D1), ("stocks", "AAPL", D1 + 7 * MIN), ("stocks", "AAPL", D2 + MIN),
          ("stocks", "BRK/A", D0 + 3 * MIN), ("stocks", "MSFT", D0 + 4 * MIN),
          ("crypto", "X:BTCUSD", D0 + MIN), ("crypto", "X:BTCUSD", D1 + 2 * MIN), ("crypto", "X:ETHUSD", D0 + 2 * MIN)]
QUOTES = [("stocks", "AAPL", D0 + 5 * MIN), ("stocks", "AAPL", D1 + 7 * MIN), ("stocks", "AAPL", D2 + MIN),
          ("stocks", "BRK/A", D0 + 3 * MIN), ("crypto", "X:BTCUSD", D0 + MIN)]
STATES = [("AAPL", D2 + DAY), ("BRK/A", D0 + 3 * MIN + 1), ("MSFT", D0 + 4 * MIN), ("X:ETHUSD", D2)]
BARS = [("AAPL", D0 + 6 * MIN, 60), ("AAPL", D0 + 23 * 60 * MIN + MIN, 60), ("AAPL", D1 + 8 * MIN, 60),
        ("AAPL", D2 + 2 * MIN, 60), ("ZZZ", D0 + 10 * MIN, 300)]
REALIZED = [("AAPL", D0 + 6 * MIN), ("AAPL", D0 + 23 * 60 * MIN + MIN)]
LIQUIDITY = [("AAPL", D0 + 6 * MIN), ("AAPL", D1 + 8 * MIN)]

#: (folder, market, day, symbol) -> the times of the rows that leave, derived by hand (module docstring above)
LEAVES = {
    ("trades", "crypto", DATE0, "X:ETHUSD"): [D0 + 2 * MIN],
    ("trades", "stocks", DATE0, "AAPL"): [D0, D0 + 5 * MIN, D0 + 23 * 60 * MIN],
    ("trades", "stocks", DATE0, "BRK/A"): [D0 + 3 * MIN],
    ("quotes", "stocks", DATE0, "AAPL"): [D0 + 5 * MIN],
    ("quotes", "stocks", DATE0, "BRK/A"): [D0 + 3 * MIN],
    ("signals", "stocks", DATE0, "AAPL"): [D0 + 6 * MIN, D0 + 23 * 60 * MIN + MIN],
    ("bar_liquidity", "stocks", DATE0, "AAPL"): [D0 + 6 * MIN],
    ("bar_realized_spread", "stocks", DATE0, "AAPL"): [D0 + 6 * MIN, D0 + 23 * 60 * MIN + MIN],
    ("signals", "unknown", DATE0, "ZZZ"): [D0 + 10 * MIN],
}
WAITING = ["trades crypto 2024-03-11 X:BTCUSD", "trades crypto 2024-03-12 X:BTCUSD", "trades stocks 2024-03-11 MSFT",
           "trades stocks 2024-03-12 AAPL", "quotes crypto 2024-03-11 X:BTCUSD", "quotes stocks 2024-03-12 AAPL",
           "signals stocks 2024-03-12 AAPL"]
#: live table, its view, its time column, its archive folder
TABLES = [("market_data", "trades_all", "ts_ns", "trades"), ("quotes", "quotes_all", "ts_ns", "quotes"),
          ("trading_signals", "signals_all", "bar_end_ns", "signals"),
          ("bar_liquidity", "bar_liquidity_all", "bar_end_ns", "bar_liquidity"),
          ("bar_realized_spread", "bar_realized_spread_all", "bar_end_ns", "bar_realized_spread")]
MARKETS = {symbol: market for market, symbol, _ in TRADES}


def _settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "duckdb_path": tmp_path / "live.duckdb", "archive_path": tmp_path / "archive", "bar_seconds": 60,
        "session_stocks": "00:00-24:00 UTC", "transform_lateness_seconds": 0.0, "retain_trades_days": 1,
        "retain_quotes_days": 1, "retain_signals_days": 1, **overrides}
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def _trades(rows: list[tuple[str, str, int]], first_id: int = 0) -> pa.Table:
    return pa.Table.from_pylist([
        {"market": m, "symbol": s, "ts_ns": t, "price": 10.0 + i, "size": 1.0 + i, "exchange": 1,
         "trade_id": str(first_id + i), "conditions": None, "tape": None, "sequence": first_id + i, "trf_id": None,
         "trf_ts_ns": None, "received_ns": t, "source": "test", "correction": None}
        for i, (m, s, t) in enumerate(rows)], schema=TRADES_SCHEMA)


def _quotes(rows: list[tuple[str, str, int]]) -> pa.Table:
    return pa.Table.from_pylist([
        {"market": m, "symbol": s, "ts_ns": t, "bid_price": 9.0, "bid_size": 1.0 + i, "ask_price": 11.0,
         "ask_size": 2.0, "bid_exchange": 1, "ask_exchange": 2, "conditions": None, "sequence": i, "tape": None,
         "received_ns": t, "source": "test"} for i, (m, s, t) in enumerate(rows)], schema=QUOTES_SCHEMA)


def _fill(storage: DuckDBStorage) -> None:
    storage.append_trades(_trades(TRADES))
    storage.append_quotes(_quotes(QUOTES))
    for symbol, mark in STATES:
        storage.execute_write("INSERT INTO signal_state VALUES ($s, 60, $w, '{}', 0)", {"s": symbol, "w": mark})
    for i, (symbol, end, seconds) in enumerate(BARS):
        storage.execute_write(
            "INSERT INTO trading_signals (symbol, bar_end_ns, bar_seconds, n_trades, volume, close, jump_detected, "
            "trading_signal, signal_reason, computed_at_ns) VALUES ($s, $e, $b, 1, 1.0, $c, false, 'HOLD', 'r', 0)",
            {"s": symbol, "e": end, "b": seconds, "c": 10.0 + i})
    for symbol, end in REALIZED:
        storage.execute_write("INSERT INTO bar_realized_spread VALUES ($s, $e, 60, 300, 1, 1.0, 0.0, 0.0, 10.0, 1, 0)",
                              {"s": symbol, "e": end})
    for symbol, end in LIQUIDITY:
        storage.execute_write("INSERT INTO bar_liquidity (symbol, bar_end_ns, bar_seconds, n_quotes, buy_volume, "
                              "sell_volume, signed_volume, computed_at_ns) VALUES ($s, $e, 60, 1, 1.0, 0.0, 1.0, 0)",
                              {"s": symbol, "e": end})


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two files built once (the schema costs a second a file): with the schema only, and with the market."""
    paths = {}
    for name in ("empty", "market"):
        folder = tmp_path_factory.mktemp(name)
        storage = DuckDBStorage.open(_settings(folder))
        try:
            storage.apply_schema()
            if name == "market":
                _fill(storage)
        finally:
            storage.close()
        paths[name] = folder / "live.duckdb"
    return paths


def _open(templates: dict[str, Path], name: str, tmp_path: Path, **overrides: object) -> tuple[DuckDBStorage, Settings]:
    """A copy of a template file, opened for writing with its own archive folder."""
    settings = _settings(tmp_path, **overrides)
    shutil.copyfile(templates[name], settings.duckdb_path)
    storage = DuckDBStorage.open(settings)
    storage.apply_schema()
    return storage, settings


@pytest.fixture
def market(templates: dict[str, Path], tmp_path: Path):
    storage, settings = _open(templates, "market", tmp_path)
    try:
        yield storage, settings, _live(storage)
    finally:
        storage.close()


def _live(storage: DuckDBStorage) -> dict[str, list[tuple]]:
    return {live: storage.fetch_all(f"SELECT * FROM {live} ORDER BY ALL") for live, *_ in TABLES}


def _views(storage: DuckDBStorage) -> dict[str, list[tuple]]:
    return {live: storage.fetch_all(f"SELECT * FROM {view} ORDER BY ALL") for live, view, *_ in TABLES}


def _day(ns: int) -> dt.date:
    return dt.datetime.fromtimestamp(ns // NS, dt.UTC).date()


def _leaving(before: dict[str, list[tuple]], live: str, time_column: str, folder: str) -> list[tuple]:
    """Plain Python over the rows inserted: the rows of ``live`` in a partition of LEAVES."""
    names = {"market_data": TRADES_SCHEMA.names, "quotes": QUOTES_SCHEMA.names}.get(live)
    out = []
    for row in before[live]:
        if names:
            market, symbol, ts = row[0], row[1], row[names.index(time_column)]
        else:  # keyed like trading_signals: symbol, bar_end_ns first; the market of its trades, else "unknown"
            symbol, ts = row[0], row[1]
            market = MARKETS.get(symbol, "unknown")
        if ts in LEAVES.get((folder, market, _day(ts), symbol), []):
            out.append(row)
    return out


def _manifest(storage: DuckDBStorage) -> list[tuple]:
    return storage.fetch_all("SELECT table_name, market, day, symbol, path, staged_path, n_rows, n_bytes, sha256, "
                             "first_ns, last_ns, archived_at_ns, placed FROM archive_manifest ORDER BY ALL")


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.parquet") if ".staging" not in p.parts)


def _file_rows(path: Path) -> list[tuple]:
    with duckdb.connect() as con:
        return con.execute("SELECT * FROM read_parquet($f, hive_partitioning = false) ORDER BY ALL",
                           {"f": str(path)}).fetchall()


# -- one run on the market --------------------------------------------------------------------------------------


def test_a_run_moves_exactly_the_final_partitions_into_one_file_each(market, monkeypatch):
    storage, settings, before = market
    root = settings.archive_root()
    checked, staged_chunks, flushed = [], [], set()
    real_check, real_files, real_flush = archive_module._check_deleted, archive_module._check_files, fsync_dir
    monkeypatch.setattr(archive_module, "_check_deleted", lambda *args: (checked.append(args), real_check(*args))[1])
    monkeypatch.setattr(archive_module, "_check_files",
                        lambda *args: (staged_chunks.append(args[4]), real_files(*args))[1])
    monkeypatch.setattr(archive_module, "fsync_dir", lambda path: (flushed.add(path), real_flush(path))[1])
    report = archive(storage, settings)
    assert staged_chunks == [c for *_, c in checked]  # the files of each table of a chunk checked under its name
    # each table's rows of each chunk deleted and checked, named by folder, market and day, in the run's order
    assert checked == [(1, 1, "trades crypto 2024-03-11"), (4, 4, "trades stocks 2024-03-11"),
                       (2, 2, "quotes stocks 2024-03-11"), (2, 2, "signals stocks 2024-03-11"),
                       (1, 1, "bar_liquidity stocks 2024-03-11"), (2, 2, "bar_realized_spread stocks 2024-03-11"),
                       (1, 1, "signals unknown 2024-03-11")]
    with pytest.raises(duckdb.CatalogException):  # the manifest batch does not stay registered on the cursor
        storage.fetch_all("SELECT count(*) FROM archive_batch")
    rows_leaving = sum(len(v) for v in LEAVES.values())
    assert (report.partitions, report.rows, report.files, report.recovered) == (7, rows_leaving, len(LEAVES), 0)
    assert report.waiting == WAITING
    assert (report.retention_off, report.metrics_deleted) == (False, 0)
    files = _files(root)
    assert report.bytes == sum(f.stat().st_size for f in files) > 0
    # the live tables lost exactly the rows that left; the views read every row inserted, once
    for live, _view, time_column, folder in TABLES:
        leaving = _leaving(before, live, time_column, folder)
        assert storage.fetch_all(f"SELECT * FROM {live} ORDER BY ALL") == [r for r in before[live] if r not in leaving]
    assert _views(storage) == before
    # one file per partition, at <folder>/market=/date=/symbol=<encoded>/part-<archived_at>-0.parquet, holding its rows
    manifest = _manifest(storage)
    assert len(files) == len(manifest) == len(LEAVES)
    by_partition = {}
    for path in files:
        folder, market_dir, date_dir, symbol_dir, name = path.relative_to(root).parts
        key = (folder, market_dir.removeprefix("market="), dt.date.fromisoformat(date_dir.removeprefix("date=")),
               unquote(symbol_dir.removeprefix("symbol=")))
        assert key not in by_partition
        by_partition[key] = path
        assert name.startswith("part-") and name.endswith("-0.parquet")
    assert set(by_partition) == set(LEAVES)
    assert (root / "trades" / "market=stocks" / "date=2024-03-11" / "symbol=BRK%2FA").is_dir()
    for live, _view, time_column, folder in TABLES:
        leaving = _leaving(before, live, time_column, folder)
        held = [row for key, path in by_partition.items() if key[0] == folder for row in _file_rows(path)]
        assert sorted(held) == sorted(leaving) and held, folder
    for table_name, mkt, day, symbol, path, staged, n_rows, n_bytes, sha, first, last, archived_at, placed in manifest:
        key = (table_name, mkt, day, symbol)
        final = by_partition[key]
        assert path == str(final.relative_to(root)) and placed is True
        assert final.name == f"part-{archived_at}-0.parquet"
        assert staged.startswith(f".staging/{table_name}/market={mkt}/date={day.isoformat()}/{archived_at}/symbol=")
        assert not (root / staged).exists()
        # flushed before the commit: the staging folder of the chunk's table (and the file's own folder)
        assert {(root / staged).parent, (root / staged).parent.parent} <= flushed
        assert (n_rows, first, last) == (len(LEAVES[key]), min(LEAVES[key]), max(LEAVES[key]))
        data = final.read_bytes()
        assert (n_bytes, sha) == (len(data), hashlib.sha256(data).hexdigest())
    # a signals chunk and its followers' rows leave together: one archived_at
    stamps = {row[0]: row[11] for row in manifest if row[1] == "stocks" and row[3] == "AAPL"}
    assert stamps["signals"] == stamps["bar_liquidity"] == stamps["bar_realized_spread"] != stamps["trades"]
    # the days that leave keep their daily row (written before anything moved)
    assert storage.fetch_all("SELECT symbol, session_date FROM daily_metrics ORDER BY ALL") == [
        ("AAPL", DATE0), ("AAPL", DATE1)]
    assert report.summary() == (
        f"archived 7 partition(s), {rows_leaving:,} rows into {len(LEAVES)} Parquet file(s) "
        f"({report.bytes / 1e6:.1f} MB); 7 partition(s) wait for the transform (signals not final): "
        + ", ".join(WAITING[:5]) + " ...")


def test_retention_off_moves_nothing_and_says_so(templates, tmp_path, caplog):
    storage, settings = _open(templates, "market", tmp_path, retain_trades_days=0, retain_quotes_days=0,
                              retain_signals_days=0)
    try:
        before = _live(storage)
        with caplog.at_level(logging.INFO, logger="microstructure.archive"):
            report = archive(storage, settings)
        # the owner's periodic run says it in its log: the summary line, once
        assert [r.getMessage() for r in caplog.records if r.name == "microstructure.archive"] == [report.summary()]
        assert report.retention_off is True and report.partitions == 0 and report.waiting == []
        assert report.summary() == ("retention is off (RETAIN_TRADES_DAYS, RETAIN_QUOTES_DAYS and RETAIN_SIGNALS_DAYS "
                                    "are 0): nothing to archive")
        assert _live(storage) == before and not _files(settings.archive_root())
    finally:
        storage.close()


def test_metrics_retention_deletes_the_old_daily_rows_and_alone_is_not_retention_off(templates, tmp_path):
    storage, settings = _open(templates, "market", tmp_path, retain_trades_days=0, retain_quotes_days=0,
                              retain_signals_days=0, retain_metrics_days=1)
    try:
        report = archive(storage, settings)
        assert (report.retention_off, report.metrics_deleted, report.partitions) == (False, 1, 0)
        assert storage.fetch_all("SELECT symbol, session_date FROM daily_metrics") == [("AAPL", DATE1)]
        assert report.summary() == ("archived 0 partition(s), 0 rows into 0 Parquet file(s) (0.0 MB); deleted 1 "
                                    "daily_metrics row(s) older than RETAIN_METRICS_DAYS")
    finally:
        storage.close()


# -- a run stopped between its commit and the move ----------------------------------------------------------------


def _stopped_run(storage: DuckDBStorage, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run whose first chunk commits and then stops before its files are moved."""
    def stop(moves):
        raise KeyboardInterrupt("stopped")

    monkeypatch.setattr(archive_module, "_place", stop)
    with pytest.raises(KeyboardInterrupt):
        archive(storage, settings)
    monkeypatch.undo()


def test_a_run_stopped_before_the_move_is_finished_by_the_next(market, monkeypatch):
    storage, settings, before = market
    root = settings.archive_root()
    _stopped_run(storage, settings, monkeypatch)
    unplaced = _manifest(storage)
    assert unplaced and all(row[12] is False for row in unplaced)
    assert {row[0] for row in unplaced} == {"trades"} and {row[1] for row in unplaced} == {"crypto"}
    assert all((root / row[5]).exists() and not (root / row[4]).exists() for row in unplaced)
    report = archive(storage, settings)
    assert report.recovered == len(unplaced) == 1
    assert report.partitions == 6 and report.files == len(LEAVES) - 1
    assert report.summary().startswith(f"archived 6 partition(s), {sum(len(v) for v in LEAVES.values()) - 1:,} rows")
    assert "; placed 1 file(s) an earlier run had committed;" in report.summary()
    assert all(row[12] is True for row in _manifest(storage))
    assert _views(storage) == before
    assert len(_files(root)) == len(LEAVES)


@pytest.mark.parametrize("damage", ["missing", "changed"])
def test_a_committed_file_in_neither_place_with_its_checksum_stops_the_run(market, monkeypatch, damage):
    storage, settings, _before = market
    root = settings.archive_root()
    _stopped_run(storage, settings, monkeypatch)
    (row,) = _manifest(storage)
    staged = root / row[5]
    if damage == "missing":
        staged.unlink()
    else:
        staged.write_bytes(staged.read_bytes() + b"x")
    with pytest.raises(ArchiveError, match=rf"^archived file {row[4]} is in neither {root / row[4]} nor {staged} with "
                                          r"its checksum: its rows left the live table; restore the file from a backup$"):
        archive(storage, settings)
    # a copy in its place with another checksum is not taken for it either
    (root / row[4]).parent.mkdir(parents=True, exist_ok=True)
    (root / row[4]).write_bytes(b"not the file")
    with pytest.raises(ArchiveError, match="is in neither"):
        archive(storage, settings)


# -- the helpers ----------------------------------------------------------------------------------------------------


def test_the_summary_line_of_each_kind_of_run():
    assert ArchiveReport().summary() == "archived 0 partition(s), 0 rows into 0 Parquet file(s) (0.0 MB)"
    report = ArchiveReport(partitions=3, rows=1_234_567, files=4, bytes=2_450_000, recovered=2,
                           waiting=["a", "b", "c", "d", "e"], metrics_deleted=1_500)
    assert report.summary() == ("archived 3 partition(s), 1,234,567 rows into 4 Parquet file(s) (2.5 MB); placed 2 "
                                "file(s) an earlier run had committed; deleted 1,500 daily_metrics row(s) older than "
                                "RETAIN_METRICS_DAYS; 5 partition(s) wait for the transform (signals not final): "
                                "a, b, c, d, e")
    report.waiting.append("f")
    assert report.summary().endswith("; 6 partition(s) wait for the transform (signals not final): a, b, c, d, e ...")
    # retention off but an earlier run's files placed: the line says what was done
    off = ArchiveReport(retention_off=True, recovered=1)
    assert off.summary() == ("archived 0 partition(s), 0 rows into 0 Parquet file(s) (0.0 MB); placed 1 file(s) an "
                             "earlier run had committed")
    assert ArchiveReport(retention_off=True).summary().startswith("retention is off")
    assert ArchiveReport().waiting == [] and ArchiveReport().waiting is not ArchiveReport().waiting


def test_check_files_names_each_staged_file_and_refuses_any_difference(tmp_path):
    partition = tmp_path / "trades" / "market=stocks" / "date=2024-03-11"
    stage = tmp_path / ".staging" / "x"
    readback = [(str(stage / "symbol=B" / "data_1.parquet"), "B", 2, 5, 9),
                (str(stage / "symbol=A" / "data_0.parquet"), "A", 1, 3, 3),
                (str(stage / "symbol=B" / "data_0.parquet"), "B", 3, 1, 7)]
    expected = {"A": (1, 3, 3), "B": (5, 1, 9)}
    staged = archive_module._check_files(readback, expected, partition, 42, "chunk")
    assert [(f.symbol, f.staged, f.final, f.n_rows, f.first_ns, f.last_ns) for f in staged] == [
        ("A", stage / "symbol=A" / "data_0.parquet", partition / "symbol=A" / "part-42-0.parquet", 1, 3, 3),
        ("B", stage / "symbol=B" / "data_0.parquet", partition / "symbol=B" / "part-42-0.parquet", 3, 1, 7),
        ("B", stage / "symbol=B" / "data_1.parquet", partition / "symbol=B" / "part-42-1.parquet", 2, 5, 9)]
    assert all((f.folder, f.sha256, f.n_bytes) == ("", "", 0) for f in staged)
    for wrong in ({"A": (1, 3, 3)}, {"A": (1, 3, 3), "B": (5, 1, 9), "C": (1, 1, 1)}):
        with pytest.raises(ArchiveError, match=r"^chunk: the staged files hold symbols \['A', 'B'\]\.\.\., the live "
                                               r"table .*; nothing deleted$"):
            archive_module._check_files(readback, wrong, partition, 42, "chunk")
    many = [(str(stage / f"symbol={c}" / "data_0.parquet"), c, 1, 1, 1) for c in "ABCDEFG"]
    with pytest.raises(ArchiveError, match=r"^c: the staged files hold symbols \['A', 'B', 'C', 'D', 'E'\]\.\.\., the live "
                                           r"table \['B', 'C', 'D', 'E', 'F'\]\.\.\.; nothing deleted$"):
        archive_module._check_files(many, {c: (1, 1, 1) for c in "BCDEFGH"}, partition, 42, "c")
    for wrong in ((6, 1, 9), (4, 1, 9), (5, 0, 9), (5, 2, 9), (5, 1, 8), (5, 1, 10)):
        with pytest.raises(ArchiveError, match=rf"^chunk B: read back \(5, 1, 9\) \(rows, first_ns, last_ns\) from the "
                                               rf"staged files, the live table has \({wrong[0]}, {wrong[1]}, {wrong[2]}\); "
                                               r"nothing deleted$"):
            archive_module._check_files(readback, {"A": (1, 3, 3), "B": wrong}, partition, 42, "chunk")


def test_check_deleted():
    archive_module._check_deleted(1_500, 1_500, "chunk")
    for deleted, archived in ((1_499, 1_500), (1_501, 1_500), (0, 1)):
        with pytest.raises(ArchiveError, match=rf"^chunk: the delete matched {deleted:,} live rows, the files hold "
                                               rf"{archived:,}; rolled back$"):
            archive_module._check_deleted(deleted, archived, "chunk")


def test_place_renames_each_file_and_flushes_every_folder_it_touched(tmp_path, monkeypatch):
    flushed: list[Path] = []
    monkeypatch.setattr(archive_module, "fsync_dir", flushed.append)
    stage = tmp_path / ".staging" / "s"
    (stage / "symbol=A").mkdir(parents=True)
    (stage / "symbol=B").mkdir()
    for name, text in (("symbol=A/d0", "a0"), ("symbol=A/d1", "a1"), ("symbol=B/d0", "b0")):
        (stage / name).write_text(text)
    existing = tmp_path / "t" / "market=m" / "date=d" / "symbol=B"
    existing.mkdir(parents=True)
    new = tmp_path / "t" / "market=m" / "date=d" / "symbol=A"
    # a move into a folder that exists first: the folders of a move before a new folder are flushed too
    moves = [(stage / "symbol=B" / "d0", existing / "p0"), (stage / "symbol=A" / "d0", new / "p0"),
             (stage / "symbol=A" / "d1", new / "p1")]
    archive_module._place(moves)
    assert [(new / "p0").read_text(), (new / "p1").read_text(), (existing / "p0").read_text()] == ["a0", "a1", "b0"]
    assert not any(stage.rglob("d*"))
    # each rename's two folders, and for a new folder its parent and grandparent (the date and market folders)
    assert sorted(flushed) == sorted({stage / "symbol=A", stage / "symbol=B", new, existing, new.parent,
                                      new.parent.parent})
    assert len(flushed) == 6


def test_fsync_file_gives_the_sha256_and_size_of_a_file_of_several_blocks_and_flushes_it(tmp_path, monkeypatch):
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(archive_module.os, "fsync", lambda fd: (synced.append(fd), real(fd))[1])
    data = bytes(range(256)) * 9_000 + b"tail"  # 2.2 MiB: three blocks of 1 MiB
    path = tmp_path / "f"
    path.write_bytes(data)
    assert fsync_file(path) == (hashlib.sha256(data).hexdigest(), len(data))
    assert len(synced) == 1
    empty = tmp_path / "e"
    empty.write_bytes(b"")
    assert fsync_file(empty) == (hashlib.sha256(b"").hexdigest(), 0)


def test_fsync_dir_flushes_the_folder_and_closes_it(tmp_path, monkeypatch):
    synced: list[int] = []
    closed: list[int] = []
    real_fsync, real_close = os.fsync, os.close
    monkeypatch.setattr(archive_module.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    monkeypatch.setattr(archive_module.os, "close", lambda fd: (closed.append(fd), real_close(fd))[1])
    fsync_dir(tmp_path)
    monkeypatch.undo()
    assert len(synced) == 1 and synced == closed
    with pytest.raises(NotADirectoryError):
        (tmp_path / "f").write_text("x")
        fsync_dir(tmp_path / "f")
    shutil.rmtree(tmp_path / "nothing", ignore_errors=True)
    with pytest.raises(FileNotFoundError):
        fsync_dir(tmp_path / "nothing")
