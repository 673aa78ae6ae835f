"""The operator scripts under ``scripts/vertica/``, checked against Vertica's documented grammar and rules.

Nothing here runs Vertica. The ALTER USER account parameters below are the ones Vertica's SQL reference lists
(ALTER USER, 11.x-24.x): one comma-separated list per statement, DEFAULT ROLE on its own. The landing table
follows the flex table docs: COPY fills no column defaults, so a column a COPY cannot set must be nullable.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts" / "vertica"

_VALUE = r"(?:'[^']*'|:\w+)"  # a literal or a vsql variable
_NAME = r"(?:\w+|:\w+|\"[^\"]+\")"
#: ALTER USER account parameters as documented; each item of the list must match one in full.
ACCOUNT_PARAMETERS = {
    "ACCOUNT": r"ACCOUNT (?:LOCK|UNLOCK)",
    "GRACEPERIOD": rf"GRACEPERIOD (?:NONE|{_VALUE})",
    "IDENTIFIED": rf"IDENTIFIED BY {_VALUE}(?: REPLACE {_VALUE})?",
    "IDLESESSIONTIMEOUT": rf"IDLESESSIONTIMEOUT (?:NONE|{_VALUE})",
    "MAXCONNECTIONS": r"MAXCONNECTIONS (?:NONE|\d+) ON (?:DATABASE|NODE)",
    "MEMORYCAP": rf"MEMORYCAP (?:NONE|{_VALUE})",
    "PASSWORD": r"PASSWORD EXPIRE",
    "PROFILE": rf"PROFILE (?:DEFAULT|{_NAME})",
    "RESOURCE": rf"RESOURCE POOL {_NAME}(?: FOR (?:CURRENT )?SUBCLUSTER(?: {_NAME})?)?",
    "RUNTIMECAP": rf"RUNTIMECAP (?:NONE|{_VALUE})",
    "SEARCH_PATH": rf"SEARCH_PATH (?:DEFAULT|{_NAME}(?: ?, ?{_NAME})*)",
    "SECURITY_ALGORITHM": rf"SECURITY_ALGORITHM {_VALUE}",
    "TEMPSPACECAP": rf"TEMPSPACECAP (?:NONE|{_VALUE})",
}
DEFAULT_ROLE = rf"DEFAULT ROLE (?:NONE|ALL(?: EXCEPT {_NAME}(?:, ?{_NAME})*)?|{_NAME}(?:, ?{_NAME})*)"


def _statements(text: str) -> list[str]:
    code = re.sub(r"--[^\n]*", "", text)
    return [" ".join(s.split()) for s in code.split(";") if s.strip()]


def alter_user_errors(statement: str) -> list[str]:
    """What in one ``ALTER USER`` statement does not follow the documented grammar (empty: it does)."""
    match = re.fullmatch(rf"ALTER USER {_NAME} (.+)", statement, re.I)
    if match is None:
        return [f"not an ALTER USER statement: {statement}"]
    body = match.group(1)
    if body.upper().startswith("DEFAULT ROLE"):
        return [] if re.fullmatch(DEFAULT_ROLE, body, re.I) else [f"DEFAULT ROLE stands alone: {body}"]
    errors = []
    for item in (i.strip() for i in re.split(r",(?![^(]*\))", body)):
        pattern = ACCOUNT_PARAMETERS.get(item.split(" ", 1)[0].upper())
        if pattern is None or not re.fullmatch(pattern, item, re.I):
            errors.append(f"not a documented account parameter setting: {item}")
    return errors


def test_the_grammar_check_rejects_an_undocumented_parameter_and_a_missing_comma() -> None:
    assert alter_user_errors("ALTER USER :reader RUNTIMECAP '30 seconds', MAXCONNECTIONS 16 ON DATABASE") == []
    assert alter_user_errors("ALTER USER r RUNTIMECAP '30 seconds' MAXCONCURRENCY 16")  # the old statement
    assert alter_user_errors("ALTER USER r MAXCONCURRENCY 16")
    assert alter_user_errors("ALTER USER r MAXCONNECTIONS 16")  # ON DATABASE | NODE is required
    assert alter_user_errors("ALTER USER r DEFAULT ROLE a, RUNTIMECAP '1 second'")


def test_every_alter_user_of_the_reader_script_follows_the_documented_grammar() -> None:
    statements = [s for s in _statements((SCRIPTS / "create_reader.sql").read_text()) if s.startswith("ALTER USER")]
    assert len(statements) == 2
    for statement in statements:
        assert alter_user_errors(statement) == [], statement
    caps = " ".join(statements)
    assert "RUNTIMECAP '30 seconds'" in caps and "MAXCONNECTIONS 16 ON DATABASE" in caps


def _flex_tables() -> dict[str, list[str]]:
    """CREATE FLEX TABLE statements of every script: table name -> the files that create it."""
    found: dict[str, list[str]] = {}
    for path in sorted(SCRIPTS.iterdir()):
        for name in re.findall(r"CREATE FLEX TABLE (?:IF NOT EXISTS )?(\w+)", path.read_text()):
            found.setdefault(name, []).append(path.name)
    return found


def test_the_landing_table_is_created_in_one_file_and_the_loading_scripts_run_it() -> None:
    assert _flex_tables() == {"polygon_trades_raw": ["landing_table.sql"]}
    assert "\\i scripts/vertica/landing_table.sql" in (SCRIPTS / "kafka_landing.sql").read_text()
    assert 'landing_table.sql"' in (SCRIPTS / "vkconfig_setup.sh").read_text()


@pytest.mark.parametrize("name", ["landing_table.sql"])
def test_no_flex_table_column_relies_on_a_default_or_rejects_nulls(name: str) -> None:
    ddl = re.sub(r"--[^\n]*", "", (SCRIPTS / name).read_text())
    columns = ddl.split("(", 1)[1].rsplit(")", 1)[0]
    assert "NOT NULL" not in columns.upper() and "DEFAULT" not in columns.upper()


def test_the_promotion_stamps_new_landing_rows_before_reading_its_window() -> None:
    statements = _statements((SCRIPTS / "promote_trades.sql").read_text())
    stamp = statements.index("UPDATE polygon_trades_raw SET loaded_at = NOW() WHERE loaded_at IS NULL")
    insert = next(i for i, s in enumerate(statements) if s.startswith("INSERT INTO market_data"))
    assert stamp < insert and "loaded_at >= NOW() - INTERVAL '15 minutes'" in statements[insert]
    assert statements[insert + 1] == "COMMIT"


def test_the_reader_may_select_exactly_the_relations_the_analyst_sql_guard_allows() -> None:
    from server.sql_guard import DOCUMENTED_RELATIONS

    granted: set[str] = set()
    for statement in _statements((SCRIPTS / "create_reader.sql").read_text()):
        grant = re.fullmatch(r"GRANT SELECT ON (?:TABLE )?(.+) TO microstructure_read", statement)
        if grant:
            granted |= {name.strip().removeprefix("public.") for name in grant.group(1).split(",")}
    assert granted == DOCUMENTED_RELATIONS
