"""sql/compact.py's rules on tiny DuckDB files: no row lost or duplicated, the file swapped only when whole.

The expected rows are the ones inserted here (plain Python lists), the expected sizes the file's own size read with
``os.stat``, the expected texts those of the module docstring and README ("the file is left as it was").
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from sql import compact as compact_module
from sql.backend import StorageError
from sql.compact import CompactError, CompactReport, compact
from sql.settings import Settings

pytestmark = pytest.mark.duckdb

TRADES = [("AAPL", i, 100.0 + i / 8, 10 * (i % 7 + 1)) for i in range(3000)]
QUOTES = [("MSFT", i, 50.0 + i / 4) for i in range(40)]


def _settings(path: Path) -> Settings:
    return Settings(_env_file=None, duckdb_path=path)  # type: ignore[call-arg]


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[tuple]) -> None:
    """The Python rows into ``table`` in one statement (``executemany`` costs seconds for thousands of rows)."""
    columns = [c[0] for c in con.execute(f"DESCRIBE {table}").fetchall()]
    con.register("frame", pa.table({c: [r[i] for r in rows] for i, c in enumerate(columns)}))
    con.execute(f"INSERT INTO {table} SELECT * FROM frame")
    con.unregister("frame")


def _file(tmp_path: Path, delete_below: int = 0, name: str = "m.duckdb") -> Path:
    """A file with two tables and a view; trades with ts < ``delete_below`` deleted after a checkpoint."""
    path = tmp_path / name
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE trades (symbol VARCHAR, ts BIGINT, price DOUBLE, size INTEGER)")
        con.execute("CREATE TABLE quotes (symbol VARCHAR, ts BIGINT, bid DOUBLE)")
        con.execute("CREATE TABLE empty_one (x INTEGER)")
        _insert(con, "trades", TRADES)
        _insert(con, "quotes", QUOTES)
        con.execute("CREATE VIEW big AS SELECT * FROM trades WHERE size > 30")
        con.execute("CHECKPOINT")
        if delete_below:
            con.execute("DELETE FROM trades WHERE ts < ?", [delete_below])
            con.execute("CHECKPOINT")
    return path


def _rows(path: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {t: con.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall() for t in ("trades", "quotes", "empty_one")}


def test_every_live_row_kept_once(tmp_path: Path) -> None:
    path = _file(tmp_path, delete_below=1000)
    report = compact(_settings(path))
    rows = _rows(path)
    assert rows["trades"] == sorted(t for t in TRADES if t[1] >= 1000)
    assert rows["quotes"] == sorted(QUOTES)
    assert rows["empty_one"] == []
    with duckdb.connect(str(path), read_only=True) as con:  # the view came along
        assert con.execute("SELECT count(*) FROM big").fetchone()[0] == sum(1 for t in TRADES
                                                                           if t[1] >= 1000 and t[3] > 30)
    assert report.bytes_after == path.stat().st_size
    assert not Path(f"{path}.compact").exists() and not Path(f"{path}.compact.wal").exists()
    assert report.seconds >= 0


def test_before_and_after_sizes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _file(tmp_path, delete_below=2900)
    checkpointed: list[int] = []
    real = compact_module.fsync_file

    def spy(copy: Path) -> None:  # the original's size, after compact's checkpoint, at the time of the copy
        checkpointed.append(path.stat().st_size)
        real(copy)

    monkeypatch.setattr(compact_module, "fsync_file", spy)
    report = compact(_settings(path))
    assert report.bytes_before == checkpointed[0]
    assert report.bytes_after == path.stat().st_size
    assert len(_rows(path)["trades"]) == 100


def test_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "none.duckdb"
    with pytest.raises(StorageError) as info:
        compact(_settings(path))
    assert str(info.value) == f"DUCKDB_PATH {str(path)!r} does not exist"
    assert not path.exists() and not Path(f"{path}.compact").exists()


def test_stale_copy_and_its_wal_are_discarded_first(tmp_path: Path) -> None:
    path = _file(tmp_path)
    Path(f"{path}.compact").write_bytes(b"partial copy of a killed run")
    Path(f"{path}.compact.wal").write_bytes(b"junk")
    compact(_settings(path))
    assert _rows(path)["trades"] == sorted(TRADES)
    assert not Path(f"{path}.compact").exists() and not Path(f"{path}.compact.wal").exists()


def test_failed_copy_leaves_the_original_and_no_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _file(tmp_path, delete_below=10)
    before = path.read_bytes()

    def broken(*args: object) -> None:
        raise CompactError("table trades: 1 rows in the file, 0 in the copy; the file is left as it was")

    monkeypatch.setattr(compact_module, "_check_counts", broken)
    with pytest.raises(CompactError):
        compact(_settings(path))
    assert path.read_bytes() == before
    assert not Path(f"{path}.compact").exists() and not Path(f"{path}.compact.wal").exists()
    # the connection was closed: the file opens again for writing in this process with other settings
    with duckdb.connect(str(path), config={"threads": 1}) as con:
        assert con.execute("SELECT count(*) FROM trades").fetchone()[0] == len(TRADES) - 10


def test_interrupt_also_discards_the_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _file(tmp_path)

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(compact_module, "_check_counts", interrupted)
    with pytest.raises(KeyboardInterrupt):
        compact(_settings(path))
    assert not Path(f"{path}.compact").exists()
    assert _rows(path)["trades"] == sorted(TRADES)


def _attached(tmp_path: Path, copy_rows: dict[str, int]) -> duckdb.DuckDBPyConnection:
    """A connection to a file with the tables, and ``compacted`` attached holding ``copy_rows`` rows each."""
    path = _file(tmp_path)
    copy = tmp_path / "copy.duckdb"
    with duckdb.connect(str(copy)) as con:
        for table, n in copy_rows.items():
            con.execute(f'CREATE TABLE "{table}" (x INTEGER)')
            con.execute(f'INSERT INTO "{table}" SELECT range FROM range({n})')
    con = duckdb.connect(str(path))
    con.execute(f"ATTACH '{copy}' AS compacted")
    return con


def test_counts_equal_pass(tmp_path: Path) -> None:
    con = _attached(tmp_path, {"trades": len(TRADES), "quotes": len(QUOTES), "empty_one": 0})
    compact_module._check_counts(con, compact_module.load_registry("duckdb", "compact"), "m")
    con.close()


@pytest.mark.parametrize(("table", "rows"), [("trades", len(TRADES) - 1), ("quotes", len(QUOTES) + 1),
                                             ("empty_one", 1)])
def test_counts_differ_is_refused_naming_the_table(tmp_path: Path, table: str, rows: int) -> None:
    counts = {"trades": len(TRADES), "quotes": len(QUOTES), "empty_one": 0}
    original = counts[table]
    counts[table] = rows
    con = _attached(tmp_path, counts)
    with pytest.raises(CompactError) as info:
        compact_module._check_counts(con, compact_module.load_registry("duckdb", "compact"), "m")
    con.close()
    assert str(info.value) == (f"table {table}: {original:,} rows in the file, {rows:,} in the copy; "
                               "the file is left as it was")


def test_thousands_in_the_count_message(tmp_path: Path) -> None:
    con = _attached(tmp_path, {"trades": 2, "quotes": len(QUOTES), "empty_one": 0})
    with pytest.raises(CompactError, match=r"^table trades: 3,000 rows in the file, 2 in the copy; "):
        compact_module._check_counts(con, compact_module.load_registry("duckdb", "compact"), "m")
    con.close()


def test_swap_refused_when_a_wal_appeared(tmp_path: Path) -> None:
    path, copy = tmp_path / "a.duckdb", tmp_path / "a.duckdb.compact"
    path.write_bytes(b"original")
    copy.write_bytes(b"copy")
    Path(f"{path}.wal").write_bytes(b"w")
    with pytest.raises(CompactError) as info:
        compact_module._swap(copy, path)
    assert str(info.value) == (f"{path}.wal appeared after the copy (another process opened the file); the copy "
                               f"{copy} is left unused")
    assert path.read_bytes() == b"original" and copy.read_bytes() == b"copy"


def test_swap_replaces_and_syncs_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, copy = tmp_path / "a.duckdb", tmp_path / "a.duckdb.compact"
    path.write_bytes(b"original")
    copy.write_bytes(b"copy")
    synced: list[Path] = []
    monkeypatch.setattr(compact_module, "fsync_dir", synced.append)
    compact_module._swap(copy, path)
    assert path.read_bytes() == b"copy" and not copy.exists()
    assert synced == [tmp_path]


def test_discard_removes_copy_and_wal_only(tmp_path: Path) -> None:
    copy = tmp_path / "a.duckdb.compact"
    keep = tmp_path / "a.duckdb"
    for p in (copy, Path(f"{copy}.wal"), keep):
        p.write_bytes(b"x")
    compact_module._discard(copy)
    assert sorted(os.listdir(tmp_path)) == ["a.duckdb"]
    compact_module._discard(copy)  # nothing left: no error
    Path(f"{copy}.wal").write_bytes(b"x")  # only a WAL left behind
    compact_module._discard(copy)
    assert sorted(os.listdir(tmp_path)) == ["a.duckdb"]


@pytest.mark.parametrize(("before", "after", "seconds", "text"), [
    (1_234_567, 12_345_678_901, 2.345, "compacted 1.2 MB -> 12,345.7 MB in 2.3 s"),
    (50_000, 0, 0.04, "compacted 0.1 MB -> 0.0 MB in 0.0 s"),
    (999_949, 1_000_000, 61.26, "compacted 1.0 MB -> 1.0 MB in 61.3 s"),
])
def test_summary(before: int, after: int, seconds: float, text: str) -> None:
    assert CompactReport(before, after, seconds).summary() == text


def test_summary_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _file(tmp_path)
    with caplog.at_level("INFO", logger="microstructure.compact"):
        report = compact(_settings(path))
    assert [r.getMessage() for r in caplog.records] == [f"{path}: {report.summary()}"]
    assert re.fullmatch(r"compacted [\d,.]+ MB -> [\d,.]+ MB in [\d.]+ s", report.summary())


def test_deleted_rows_give_the_space_back(tmp_path: Path) -> None:
    path = _file(tmp_path, delete_below=2990)
    with duckdb.connect(str(path)) as con:  # a large table dropped to a few rows
        con.execute("CREATE TABLE filler AS SELECT range AS x, 'padding ' || range AS y FROM range(300000)")
        con.execute("CHECKPOINT")
        con.execute("DELETE FROM filler WHERE x > 5")
        con.execute("CHECKPOINT")
    report = compact(_settings(path))
    assert report.bytes_after < report.bytes_before
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("SELECT x FROM filler ORDER BY x").fetchall() == [(i,) for i in range(6)]
    assert _rows(path)["trades"] == sorted(t for t in TRADES if t[1] >= 2990)


class _Query:
    def __init__(self, text: str) -> None:
        self.text = text


def test_a_copy_missing_rows_is_refused_and_the_file_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """compact's own count check: a copy that lost five trades (a broken copy step) is not swapped in."""
    path = _file(tmp_path)
    before = path.read_bytes()
    real = compact_module.load_registry

    def lossy(dialect: str, folder: str) -> dict[str, _Query]:
        registry = real(dialect, folder)
        queries = {name: _Query(registry[name].text) for name in
                   ("checkpoint", "current_database", "attach_copy", "copy_database", "detach_copy",
                    "catalog_tables", "count_rows")}
        queries["copy_database"] = _Query(queries["copy_database"].text.rstrip().rstrip(";")
                                          + "; DELETE FROM compacted.trades WHERE ts < 5;")
        return queries

    monkeypatch.setattr(compact_module, "load_registry", lossy)
    with pytest.raises(CompactError) as info:
        compact(_settings(path))
    assert str(info.value) == ("table trades: 3,000 rows in the file, 2,995 in the copy; "
                               "the file is left as it was")
    assert path.read_bytes() == before
    assert not Path(f"{path}.compact").exists()


def test_unsafe_path_is_refused_naming_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "it's.duckdb"
    settings = Settings(_env_file=None, duckdb_path=path, archive_path=tmp_path / "arch")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match=r"^DUCKDB_PATH \".*it's\.duckdb\" cannot go into DuckDB's SQL text"):
        compact(settings)


def test_seconds_lie_within_the_call(tmp_path: Path) -> None:
    path = _file(tmp_path)
    started = time.perf_counter()
    report = compact(_settings(path))
    assert 0 <= report.seconds <= time.perf_counter() - started


def test_summary_of_large_files() -> None:
    assert CompactReport(100_000_000_000, 100_000_000_000, 1.0).summary() == (
        "compacted 100,000.0 MB -> 100,000.0 MB in 1.0 s")
