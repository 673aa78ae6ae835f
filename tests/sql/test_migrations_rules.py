"""sql/migrations.py's rules, fast and without a server: versions, what is pending, the refusal, the ``when`` check.

The expected values come from the migration files read as text here (``sql/<dialect>/migrations/NNN_name.sql``,
their ``-- name:``/``-- when:`` headers, the check files) and from the module's documented contract (issue 13
point 7: a database at version ``v`` runs every migration above ``v``, in order, its new columns added in place;
a newer database is refused naming both versions). Nothing is taken from the module under test as the expected value.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from sql import migrations
from sql.migrations import Migration, SchemaTooNew, latest_version, pending, run_migration, stored_version

SQL = Path(__file__).resolve().parents[2] / "sql"
DIALECTS = ("duckdb", "vertica")


def _files(dialect: str) -> list[tuple[int, str, str | None, list[str]]]:
    """(version, name, when, statements) of every migration file, parsed plainly from the text."""
    out = []
    for path in sorted((SQL / dialect / "migrations").glob("*.sql")):
        number, name = path.stem.split("_", 1)
        text = path.read_text(encoding="utf-8")
        when = re.search(r"^--\s*when:\s*(\S+)", text, re.M)
        body = "\n".join(line for line in text.splitlines() if not line.strip().startswith("--"))
        out.append((int(number), name, when.group(1) if when else None,
                    [s.strip() for s in body.split(";") if s.strip()]))
    return out


@pytest.mark.parametrize("dialect", DIALECTS)
def test_latest_version_is_the_newest_file(dialect: str) -> None:
    files = _files(dialect)
    assert files, "the dialect ships migrations"
    assert latest_version(dialect) == max(v for v, *_ in files) == len(files)


def test_latest_version_without_migrations_is_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(migrations, "load_migrations", lambda dialect: ())
    assert latest_version("duckdb") == 0


@pytest.mark.parametrize("dialect", DIALECTS)
def test_loaded_migrations_match_the_files(dialect: str) -> None:
    loaded = migrations.load_migrations(dialect)
    assert [(m.version, m.name, m.when, list(m.statements)) for m in loaded] == _files(dialect)


@pytest.mark.parametrize(("recorded", "has_market_data", "expected"), [
    (5, True, 5), (5, False, 5), (1, False, 1), (0, False, 0), (0, True, 0),
    (None, True, 0), (None, False, None),
])
def test_stored_version(recorded: int | None, has_market_data: bool, expected: int | None) -> None:
    got = stored_version(recorded, has_market_data)
    assert got == expected
    assert got is None or type(got) is int


def test_stored_version_is_an_int_of_what_the_database_returns() -> None:
    got = stored_version("3", False)  # type: ignore[arg-type]  # a driver may hand back a decimal or string
    assert got == 3 and type(got) is int


@pytest.mark.parametrize("dialect", DIALECTS)
def test_pending_is_every_migration_above_the_version_in_order(dialect: str) -> None:
    files = _files(dialect)
    newest = len(files)
    for version in range(newest + 1):
        got = pending(dialect, version, "DUCKDB_PATH 'x'")
        assert [m.version for m in got] == [v for v, *_ in files if v > version]
        assert [m.name for m in got] == [n for v, n, *_ in files if v > version]
    assert pending(dialect, newest, "w") == ()


@pytest.mark.parametrize("dialect", DIALECTS)
def test_newer_database_is_refused_naming_both_versions(dialect: str) -> None:
    newest = len(_files(dialect))
    where = "DUCKDB_PATH 'data/x.duckdb'"
    with pytest.raises(SchemaTooNew) as info:
        pending(dialect, newest + 1, where)
    message = str(info.value)
    assert message.startswith(f"{where} has schema version {newest + 1}, newer than this code's {newest}:")
    assert message.endswith("it was written by a newer microstructure; upgrade the code to open it")
    assert "\n" not in message


class _Cursor:
    """Records statements; ``fetchone`` answers the ``when`` check."""

    def __init__(self, answer: object) -> None:
        self.answer = answer
        self.executed: list[str] = []

    def execute(self, statement: str) -> None:
        self.executed.append(statement)

    def fetchone(self) -> tuple[object]:
        return (self.answer,)


def _check_text(dialect: str, name: str) -> str:
    return (SQL / dialect / "migrations" / "checks" / f"{name}.sql").read_text(encoding="utf-8").strip()


def test_run_without_when_runs_every_statement_in_order() -> None:
    migration = Migration(7, "two", None, ("CREATE TABLE a (x INT)", "ALTER TABLE a ADD COLUMN y INT"))
    cursor = _Cursor(False)  # never asked
    assert run_migration(cursor, "duckdb", migration) is True
    assert cursor.executed == list(migration.statements)


@pytest.mark.parametrize(("answer", "ran"), [(True, True), (False, False), (1, True), (0, False)])
def test_run_with_when_asks_the_check_first(answer: object, ran: bool) -> None:
    migration = Migration(1, "market_data_without_key", "market_data_has_key", ("S1", "S2"))
    cursor = _Cursor(answer)
    assert run_migration(cursor, "duckdb", migration) is ran
    assert cursor.executed[0] == _check_text("duckdb", "market_data_has_key")
    assert cursor.executed[1:] == (["S1", "S2"] if ran else [])


def test_new_column_is_added_in_place_on_a_real_file(tmp_path: Path) -> None:
    """Every duckdb migration without a check on an old model_params: the column joins, rows stay."""
    (migration,) = [m for m in migrations.load_migrations("duckdb") if m.name == "model_params_fingerprint"]
    with duckdb.connect(str(tmp_path / "old.duckdb")) as con:
        con.execute("CREATE TABLE model_params (symbol VARCHAR, alpha DOUBLE)")
        con.execute("INSERT INTO model_params VALUES ('AAPL', 0.1), ('MSFT', 0.2)")
        cursor = con.cursor()
        assert run_migration(cursor, "duckdb", migration) is True
        assert [r[0] for r in con.execute("DESCRIBE model_params").fetchall()] == ["symbol", "alpha", "fingerprint"]
        assert con.execute("SELECT * FROM model_params ORDER BY symbol").fetchall() == [
            ("AAPL", 0.1, None), ("MSFT", 0.2, None)]


def test_real_check_skips_a_file_without_the_key(tmp_path: Path) -> None:
    (migration,) = [m for m in migrations.load_migrations("duckdb") if m.name == "market_data_without_key"]
    with duckdb.connect(str(tmp_path / "new.duckdb")) as con:
        con.execute("CREATE TABLE market_data (symbol VARCHAR, ts BIGINT)")
        con.execute("INSERT INTO market_data VALUES ('AAPL', 1)")
        assert run_migration(con.cursor(), "duckdb", migration) is False
        assert con.execute("SELECT * FROM market_data").fetchall() == [("AAPL", 1)]


def _folder(tmp_path: Path, files: dict[str, str]) -> str:
    """A dialect folder of migration files; its absolute path stands in for the dialect name (``joinpath`` of an
    absolute path replaces the package's folder), so each test's folder is its own cache entry."""
    root = tmp_path / "dialect"
    (root / "migrations").mkdir(parents=True)
    for name, text in files.items():
        (root / "migrations" / name).write_text(text, encoding="utf-8")
    return str(root)


def test_a_folder_of_migrations_is_read_in_version_order(tmp_path: Path) -> None:
    dialect = _folder(tmp_path, {
        "002_second.sql": "-- name: second\n-- when: some_check\n-- a comment; with a semicolon\n"
                          "ALTER TABLE t ADD COLUMN b INT;\nUPDATE t SET b = 1;\n",
        "001_first.sql": "-- name: first\nCREATE TABLE t (a INT);\n",
        "README.txt": "not a migration",
    })
    loaded = migrations.load_migrations(dialect)
    assert loaded == (Migration(1, "first", None, ("CREATE TABLE t (a INT)",)),
                      Migration(2, "second", "some_check", ("ALTER TABLE t ADD COLUMN b INT", "UPDATE t SET b = 1")))
    assert latest_version(dialect) == 2
    assert [m.name for m in pending(dialect, 1, "w")] == ["second"]


def test_an_empty_when_is_none(tmp_path: Path) -> None:
    """An empty ``-- when:`` is no check (``when`` None); the header regex once read the next line as its value."""
    dialect = _folder(tmp_path, {"001_first.sql": "-- name: first\n-- when:\nSELECT 1;\n"})
    assert migrations.load_migrations(dialect)[0].when is None


@pytest.mark.parametrize(("files", "message"), [
    ({"1_first.sql": "-- name: first\n"}, "/migrations/1_first.sql: a migration file is named NNN_name.sql"),
    ({"001_First.sql": "-- name: First\n"}, "/migrations/001_First.sql: a migration file is named NNN_name.sql"),
    ({"001_first.sql": "-- name: other\n"},
     "/migrations/001_first.sql: header '-- name: first' missing or different"),
    ({"001_first.sql": "SELECT 1;\n"}, "/migrations/001_first.sql: header '-- name: first' missing or different"),
    # an empty header is empty: the next line is not read as its value (it was before the fix)
    ({"001_first.sql": "-- name:\nfirst\n"}, "/migrations/001_first.sql: header '-- name: first' missing or different"),
    ({"001_a.sql": "-- name: a\n", "003_c.sql": "-- name: c\n"},
     "/migrations: versions must be 1, 2, ... without gaps, found [1, 3]"),
    ({"002_b.sql": "-- name: b\n"}, "/migrations: versions must be 1, 2, ... without gaps, found [2]"),
])
def test_bad_folders_are_refused(tmp_path: Path, files: dict[str, str], message: str) -> None:
    dialect = _folder(tmp_path, files)
    with pytest.raises(ValueError) as info:
        migrations.load_migrations(dialect)
    assert str(info.value) == f"sql/{dialect}{message}"
