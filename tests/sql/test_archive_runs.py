"""More runs of sql/archive.py on the tiny files of tests/sql/test_archive_rules.py (its market, its hand-derived
answers): a second run, a late print of an archived day, two days of retention, one table at a time, an empty
file, a market that cannot name a folder, the daily rows' watermark, a recovery that finds a file already moved.
Kept apart from the rule file so that the mutation group ``archive`` runs a few archive runs a mutant; these judge
its survivors by name (TESTING.md).
"""

from __future__ import annotations

import os

import pytest

from sql.archive import ArchiveError, archive
import tests.sql.test_archive_rules as rules
from tests.sql.test_archive_rules import (
    D0,
    D1,
    D2,
    DATE0,
    DAY,
    MIN,
    WAITING,
    _file_rows,
    _files,
    _live,
    _manifest,
    _open,
    _stopped_run,
    _trades,
    _views,
)

templates, market = rules.templates, rules.market  # the rule file's fixtures: its files, built once a module

pytestmark = pytest.mark.duckdb


def test_a_second_run_changes_nothing_and_clears_what_an_earlier_run_left_in_staging(market):
    storage, settings, before = market
    root = settings.archive_root()
    archive(storage, settings)
    files = {p: p.read_bytes() for p in _files(root)}
    manifest, live = _manifest(storage), _live(storage)
    stray = root / ".staging" / "trades" / "market=stocks" / "date=2024-03-11" / "1" / "symbol=X" / "data_0.parquet"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"never committed")
    report = archive(storage, settings)
    assert (report.partitions, report.rows, report.files, report.bytes, report.recovered) == (0, 0, 0, 0, 0)
    assert report.waiting == WAITING
    assert not (root / ".staging").exists()
    assert {p: p.read_bytes() for p in _files(root)} == files
    assert (_manifest(storage), _live(storage), _views(storage)) == (manifest, live, before)


def test_a_late_row_of_an_archived_day_becomes_a_new_part_file_and_a_partition_that_became_final_leaves(market):
    storage, settings, before = market
    root = settings.archive_root()
    archive(storage, settings)
    late = _trades([("stocks", "AAPL", D0 + 10 * MIN)], first_id=100)
    storage.append_trades(late)
    storage.execute_write("UPDATE signal_state SET last_bar_end_ns = $w WHERE symbol = 'MSFT'", {"w": D0 + 4 * MIN + 1})
    # the late print waits for the realized step to read past it (AAPL's realized rows left with D0's bars): a row
    # for AAPL's D1 bar lets it go, and with it all of AAPL's D1 (two trades, the quote, the bar and its two rows)
    first = archive(storage, settings)  # MSFT's print, now past its watermark, leaves
    assert (first.partitions, first.rows, first.files) == (1, 1, 1)
    assert first.waiting == [w for w in WAITING if "MSFT" not in w][:2] + [
        "trades stocks 2024-03-11 AAPL"] + [w for w in WAITING if "MSFT" not in w][2:]
    storage.execute_write("INSERT INTO bar_realized_spread VALUES ('AAPL', $e, 60, 300, 1, 1.0, 0.0, 0.0, 10.0, 1, 0)",
                          {"e": D1 + 8 * MIN})
    report = archive(storage, settings)
    assert (report.partitions, report.rows, report.files) == (4, 7, 6)
    assert report.waiting == [w for w in WAITING if "BTCUSD" in w]
    folder = root / "trades" / "market=stocks" / "date=2024-03-11" / "symbol=AAPL"
    parts = sorted(folder.iterdir())
    assert len(parts) == 2 and len({p.name.split("-")[1] for p in parts}) == 2
    assert [r[2] for p in parts for r in _file_rows(p) if r[2] == D0 + 10 * MIN] == [D0 + 10 * MIN]
    assert [_file_rows(p) for p in _files(root / "trades") if "MSFT" in str(p)][0][0][:3] == ("stocks", "MSFT",
                                                                                            D0 + 4 * MIN)
    expected = sorted(before["market_data"] + [tuple(late.to_pylist()[0].values())])
    assert storage.fetch_all("SELECT * FROM trades_all ORDER BY ALL") == expected


def test_two_days_of_retention_move_only_the_oldest_day(templates, tmp_path):
    storage, settings = _open(templates, "market", tmp_path, retain_trades_days=2, retain_quotes_days=2,
                              retain_signals_days=2)
    try:
        report = archive(storage, settings)
        assert report.waiting == [w for w in WAITING if "2024-03-12" not in w]
        assert report.partitions == 7
        assert storage.fetch_all("SELECT min(ts_ns) FROM market_data WHERE symbol = 'AAPL'") == [(D1,)]
    finally:
        storage.close()


@pytest.mark.parametrize("table", ["retain_trades_days", "retain_quotes_days", "retain_signals_days"])
def test_one_table_on_moves_that_table_only(templates, tmp_path, table):
    days = {"retain_trades_days": 0, "retain_quotes_days": 0, "retain_signals_days": 0, table: 1}
    storage, settings = _open(templates, "market", tmp_path, **days)
    try:
        report = archive(storage, settings)
        folder = {"retain_trades_days": "trades", "retain_quotes_days": "quotes", "retain_signals_days": "signals"}[table]
        assert report.retention_off is False
        assert report.waiting == [w for w in WAITING if w.startswith(folder + " ")]
        moved = {row[0] for row in _manifest(storage)}
        assert moved == ({folder} if folder != "signals" else {"signals", "bar_liquidity", "bar_realized_spread"})
    finally:
        storage.close()


def test_an_empty_file_moves_nothing(templates, tmp_path):
    storage, settings = _open(templates, "empty", tmp_path)
    try:
        report = archive(storage, settings)
        assert (report.partitions, report.waiting, report.retention_off) == (0, [], False)
        assert storage.fetch_all("SELECT count(*) FROM daily_metrics") == [(0,)]
    finally:
        storage.close()


def test_a_market_that_cannot_name_a_folder_is_refused_and_its_rows_stay(templates, tmp_path):
    storage, settings = _open(templates, "empty", tmp_path)
    try:
        storage.append_trades(_trades([("bad market", "AAPL", D0), ("stocks", "AAPL", D2)]))
        storage.execute_write("INSERT INTO signal_state VALUES ('AAPL', 60, $w, '{}', 0)", {"w": D2 + DAY})
        with pytest.raises(ArchiveError, match=r"^market 'bad market' cannot name an archive folder$"):
            archive(storage, settings)
        assert storage.fetch_all("SELECT count(*) FROM market_data") == [(2,)]
        assert _manifest(storage) == []
    finally:
        storage.close()


def test_the_daily_rows_are_written_up_to_the_newest_trade_less_the_lateness(templates, tmp_path):
    # the newest trade is D2 00:01; a lateness of one day and one minute puts the watermark exactly at D1 00:00, so
    # D0's daily row is final and D1's is not (a watermark one nanosecond earlier would leave D0 without its row and
    # its trades live); AAPL's D0 trades still leave, and D1 is not due under one day of retention counted from D2
    storage, settings = _open(templates, "market", tmp_path, transform_lateness_seconds=86_460.0)
    try:
        report = archive(storage, settings)
        assert storage.fetch_all("SELECT symbol, session_date FROM daily_metrics ORDER BY ALL") == [("AAPL", DATE0)]
        assert report.partitions == 7
    finally:
        storage.close()


def test_a_table_without_rows_does_not_stop_the_tables_after_it(templates, tmp_path):
    storage, settings = _open(templates, "market", tmp_path)
    try:
        storage.execute_write("DELETE FROM quotes")
        report = archive(storage, settings)
        assert report.partitions == 5 and report.waiting == [w for w in WAITING if not w.startswith("quotes ")]
        assert {row[0] for row in _manifest(storage)} == {"trades", "signals", "bar_liquidity", "bar_realized_spread"}
    finally:
        storage.close()


def test_recovery_only_marks_a_file_already_in_its_place_and_places_the_others(templates, tmp_path, monkeypatch):
    storage, settings = _open(templates, "empty", tmp_path)
    root = settings.archive_root()
    try:
        storage.append_trades(_trades([("stocks", "A", D0), ("stocks", "B", D0 + 1), ("stocks", "C", D0 + 2),
                                       ("stocks", "A", D2)]))
        for symbol in "ABC":
            storage.execute_write("INSERT INTO signal_state VALUES ($s, 60, $w, '{}', 0)", {"s": symbol, "w": D2 + DAY})
        before = _live(storage)
        _stopped_run(storage, settings, monkeypatch)
        unplaced = _manifest(storage)
        assert [row[3] for row in unplaced] == ["A", "B", "C"]
        moved = root / unplaced[0][4]  # A's file was moved before the stop, the manifest not yet marked
        moved.parent.mkdir(parents=True)
        os.replace(root / unplaced[0][5], moved)
        report = archive(storage, settings)
        assert report.recovered == 2
        assert "placed 2 file(s) an earlier run had committed" in report.summary()
        assert all(row[12] is True for row in _manifest(storage))
        assert [p.relative_to(root).as_posix() for p in _files(root)] == [row[4] for row in unplaced]
        assert _views(storage) == before
        # nothing left to do: the next run places and marks nothing
        assert archive(storage, settings).recovered == 0
    finally:
        storage.close()


def test_a_run_that_placed_none_of_its_chunks_has_every_file_of_every_chunk_placed_by_the_next(market, monkeypatch):
    storage, settings, before = market
    root = settings.archive_root()
    # every chunk commits; no file is moved and no chunk marked placed (the run stopped after each commit)
    monkeypatch.setattr("sql.archive._place", lambda moves: None)
    monkeypatch.setattr(storage, "execute_write", lambda sql, params=None: None)
    archive(storage, settings)
    monkeypatch.undo()
    unplaced = _manifest(storage)
    assert len(unplaced) == 9 and len({row[11] for row in unplaced}) == 5 and not any(row[12] for row in unplaced)
    report = archive(storage, settings)
    assert report.recovered == 9 and report.partitions == 0
    assert all(row[12] for row in _manifest(storage))
    assert [p.relative_to(root).as_posix() for p in _files(root)] == sorted(row[4] for row in unplaced)
    assert _views(storage) == before
