"""The Vertica SQL files, checked without a Vertica server.

Every file under ``sql/vertica/`` loads with its declared parameters, names only tables and columns of the
storage contract (the DuckDB DDL, views and ``sql.contract``), and the Vertica queries, views and tables have
the same names, parameters and result columns as their DuckDB twins. What these tests cannot tell (whether
Vertica accepts the syntax) the ``vertica``-marked integration tests check where ``VERTICA_HOST`` is set.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import duckdb
import pytest

from sql.conditions import conditions_table, corrections_table
from sql.contract import (
    BAR_LIQUIDITY_SCHEMA,
    BAR_REALIZED_SPREAD_SCHEMA,
    INTRADAY_PROFILE_SCHEMA,
    LIQUIDITY_COLUMNS,
    MODEL_PARAMS_SCHEMA,
    QUOTES_SCHEMA,
    SIGNAL_STATE_SCHEMA,
    SIGNALS_SCHEMA,
    TRADES_SCHEMA,
)
from sql.queries import load_registry

FOLDERS = ("schema", "views", "queries", "staging", "transform", "session", "udx", "migrations", "retention")
#: Vertica-only tables: where retention moves day partitions (MOVE_PARTITIONS_TO_TABLE); DuckDB archives to Parquet.
VERTICA_ARCHIVE_TABLES = {"market_data_archive": "market_data", "quotes_archive": "quotes",
                          "trading_signals_archive": "trading_signals"}
TABLES = {"market_data": TRADES_SCHEMA, "quotes": QUOTES_SCHEMA, "trading_signals": SIGNALS_SCHEMA,
          "model_params": MODEL_PARAMS_SCHEMA, "signal_state": SIGNAL_STATE_SCHEMA,
          "intraday_profile": INTRADAY_PROFILE_SCHEMA, "trade_conditions": conditions_table().schema,
          "trade_corrections": corrections_table().schema, "bar_liquidity": BAR_LIQUIDITY_SCHEMA,
          "bar_realized_spread": BAR_REALIZED_SPREAD_SCHEMA}
#: staging table -> (contract table, extra columns the stage carries)
STAGES = {"market_data_stage": ("market_data", []), "quotes_stage": ("quotes", []),
          "trading_signals_stage": ("trading_signals", ["state", "model_params", "intraday_profile",
                                                        *LIQUIDITY_COLUMNS, "bar_realized_spread"]),
          "model_params_stage": ("model_params", []), "signal_state_stage": ("signal_state", []),
          "intraday_profile_stage": ("intraday_profile", []), "trade_conditions_stage": ("trade_conditions", []),
          "trade_corrections_stage": ("trade_corrections", []), "bar_liquidity_stage": ("bar_liquidity", []),
          "bar_realized_spread_stage": ("bar_realized_spread", [])}
#: Vertica words the files may use: keywords, types, functions, catalog names, the UDx and its parameters.
VERTICA_WORDS = set("""
abs add all alter and array as asc avg between bigint boolean by calendar_hierarchy_day case cast characteristics close
coalesce column commit constraint contains count create cross current date default delete delimiter depends desc
disabled distinct else enclosed end exists false first float following from function greatest group if in
insert integer interpolate into is join language last last_value first_value lag lead least left library limit long
matched max merge min name nodes not null nullif nulls on only or order outer over partition pi power
previous primary preceding python read replace rows runtimecap segmented select session set sqrt sum table
temporary then timestamp timestampadd transaction transform true unbounded union update using value values
varchar view when where with hash local rows row row_number key preserve temporary parameters
batch_microstructure settings market watermark_ns computed_at_ns microstructure_udx v_catalog columns
view_columns table_schema table_name column_name data_type ordinal_position public
regexp_like listagg separator unsegmented ignore
datediff except
like including projections move_partitions_to_table drop_partitions export to parquet directory compression
""".split()) | set(VERTICA_ARCHIVE_TABLES) | {"market_data_archive_keys", "market_data_unkeyed_days",
                                                        "quotes_archive_keys", "quotes_unkeyed_days",
                                                        "key_hash"}  # quotes_archive_keys' hashed quote key
ALIASES_RE = re.compile(r"\b(?:AS|JOIN|FROM|USING|INTO)\s+([A-Za-z_]\w*)\s+(?:AS\s+)?([A-Za-z_]\w*)", re.I)
AS_RE = re.compile(r"\bAS\s+([A-Za-z_]\w*)", re.I)
WORD_RE = re.compile(r"(?<![:\w])([A-Za-z_]\w*)")


def _duckdb_contract() -> tuple[duckdb.DuckDBPyConnection, dict[str, list[str]]]:
    con = duckdb.connect()
    for folder in ("schema", "views"):
        for statement in load_registry("duckdb", folder):
            con.execute(statement.text)
    names = [r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()]
    return con, {n: [r[0] for r in con.execute(f"DESCRIBE {n}").fetchall()] for n in names}


CON, CONTRACT = _duckdb_contract()
CONTRACT_NAMES = set(CONTRACT) | {c for cols in CONTRACT.values() for c in cols} | set(STAGES)
CONTRACT_NAMES |= {c for _, extra in STAGES.values() for c in extra}


def _code(text: str) -> str:
    """The statement without comments and string literals."""
    return re.sub(r"'(?:[^']|'')*'", "''", re.sub(r"--[^\n]*", "", text))


def _vertica_files() -> list[tuple[str, str]]:
    root = resources.files("sql").joinpath("vertica")
    return [(f"{folder}/{entry.name}", entry.read_text(encoding="utf-8"))
            for folder in FOLDERS for entry in sorted(root.joinpath(folder).iterdir(), key=lambda e: e.name)
            if entry.name.endswith(".sql")]


def _select_names(text: str) -> list[str]:
    """Output column names of the outermost (last top-level) SELECT of a statement."""
    code = _code(text)
    depth, tokens = 0, []
    for match in re.finditer(r"\(|\)|\bSELECT\b|\bFROM\b|,", code, re.I):
        token = match.group(0)
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif depth == 0:
            tokens.append((token.upper(), match.start(), match.end()))
    select = max(i for i, t in enumerate(tokens) if t[0] == "SELECT")
    end = next((t[1] for t in tokens[select + 1:] if t[0] == "FROM"), len(code.rstrip().rstrip(";")))
    cuts = [tokens[select][2]] + [t[2] for t in tokens[select + 1:] if t[0] == "," and t[1] < end] + [end]
    items = [code[a:b].strip().rstrip(",").strip() for a, b in zip(cuts, cuts[1:], strict=False)]
    names = []
    for item in items:
        item = re.sub(r"^DISTINCT\s+", "", item, flags=re.I)
        alias = re.search(r"\bAS\s+([A-Za-z_]\w*)\s*$", item, re.I)
        names.append(alias.group(1) if alias else item.split(".")[-1].strip())
    return names


@pytest.mark.parametrize("folder", FOLDERS)
def test_every_vertica_folder_loads_with_its_declared_params(folder: str) -> None:
    assert len(load_registry("vertica", folder)) > 0


#: What only DuckDB has, and why: the lookup of each conditions string's rules that DuckDB's eligible_trades joins
#: because splitting and searching per row costs it ~5 us a print; Vertica matches one regular expression per print
#: (its 005_eligible_trades.sql) at a cost its nodes absorb, and its trades also arrive around the Python writer.
#: Retention's Parquet side (issue 18) is DuckDB's: its loader checks a re-delivered trade or quote against the
#: archived Parquet files (archived_days, archived_files, archived_*_positions); Vertica moves partitions to
#: <table>_archive tables and its insert_trades looks the key up there. main_relations finds what a DuckDB reader of
#: a file older code wrote must stand in for; a Vertica schema is brought up to date by its deploy.
#: (bar_liquidity_all and bar_realized_spread_all exist on both: Vertica's retention leaves those tables live.)
#: day_metrics is DuckDB's table macro of the daily formulas (Vertica's symbol_metrics keeps them inline), the join
#: of its halves day_bars and day_trades; the transform reads day_trades_final beside its last commit and writes
#: with write_daily_metrics_prepared (Vertica's in-database transform writes the daily metrics in one statement).
#: enriched_market_data_between(_grid) are DuckDB's table macros of the view over one window (Vertica's page filters
#: the view). nbbo_flags, trade_side, quote_flags and effective_spread are the scalar macros that the DuckDB view
#: and its window macro share (Vertica has the one view, with the rules inline).
#: quotes_range_symbols_stored (and its _ts form, without the tie-break columns) is the unsorted half of the
#: transform's chunk read of quotes (sql/stored_order.py
#: orders it in Python): the Vertica backend keeps the ordered read, whose sort runs on its nodes.
#: trades_range_symbols_stored is the same for the chunk's trades.
#: signal_state_stamps and signal_states_of serve the states a DuckDB owner keeps in memory between passes
#: (udx/state_cache.py): Vertica's commit_signals returns no stamp, so its transform reads every state each pass.
#: realized_spread_due_since and realized_spread_resume_since are the bounded forms of the realized-spread due
#: lookup a DuckDB owner keeps a floor for (DuckDBStorage.realized_spread_due); the Vertica backend keeps no floor
#: (other processes write its tables) and asks the unbounded queries.
DUCKDB_ONLY = {
    "schema": {"trade_condition_sets"},
    "views": {"day_metrics", "day_bars", "day_trades", "enriched_market_data_between", "enriched_market_data_between_grid", "nbbo_flags",
              "trade_side", "quote_flags", "effective_spread"},
    "queries": {"trade_condition_set_strings", "list_stored_condition_sets", "add_trade_condition_sets",
                "decide_trade_condition_sets", "archived_days", "archived_files",
                "archived_trade_positions", "archived_quote_positions", "main_relations",
                "quotes_range_symbols_stored", "quotes_range_symbols_stored_ts", "quotes_range_symbols_ts",
                "trades_range_symbols_stored",
                "signal_state_stamps", "signal_states_of", "day_trades_final", "write_daily_metrics_prepared",
                "realized_spread_due_since", "realized_spread_resume_since"},
}
#: What only Vertica has, and why: retention drops the day partitions it exported to Parquet, which the database
#: does not read back, so a read of a symbol's whole history first asks whether any of its days are only there, and
#: the loader tells a re-delivered trade of a dropped day from a new print by the keys retention kept
#: (market_data_archive_keys; market_data_unkeyed_days: days dropped before keys were kept), and a re-delivered
#: quote by the quotes' keys (quotes_archive_keys, quotes_unkeyed_days).
VERTICA_ONLY = {"queries": {"parquet_only_trade_days"},
                "schema": {"market_data_archive_keys", "market_data_unkeyed_days", "quotes_archive_keys",
                           "quotes_unkeyed_days"}}


def test_the_same_named_queries_with_the_same_params_exist_in_both_dialects() -> None:
    duck, vertica = load_registry("duckdb", "queries"), load_registry("vertica", "queries")
    both = set(vertica.names()) - VERTICA_ONLY["queries"]
    assert sorted(set(duck.names()) - DUCKDB_ONLY["queries"]) == sorted(both)
    assert DUCKDB_ONLY["queries"] <= set(duck.names())
    assert VERTICA_ONLY["queries"] <= set(vertica.names())
    for name in both:
        assert duck[name].params == vertica[name].params, name
    for folder in ("schema", "views"):
        duck_names = [n for n in load_registry("duckdb", folder).names() if n not in DUCKDB_ONLY.get(folder, set())]
        vertica_names = [n for n in load_registry("vertica", folder).names()
                         if n not in VERTICA_ARCHIVE_TABLES and n not in VERTICA_ONLY.get(folder, set())]
        assert duck_names == vertica_names
        assert DUCKDB_ONLY.get(folder, set()) <= set(load_registry("duckdb", folder).names())


def test_what_only_duckdb_has_is_internal() -> None:
    from server.sql_guard import DOCUMENTED_RELATIONS

    assert not DUCKDB_ONLY["schema"] & set(DOCUMENTED_RELATIONS)


@pytest.mark.parametrize("archive,live", sorted(VERTICA_ARCHIVE_TABLES.items()))
def test_vertica_archive_tables_are_like_their_live_table(archive: str, live: str) -> None:
    # MOVE_PARTITIONS_TO_TABLE needs the same columns, projections and partitioning
    code = " ".join(_code(load_registry("vertica", "schema")[archive].text).split())
    assert code == f"CREATE TABLE IF NOT EXISTS {archive} LIKE {live} INCLUDING PROJECTIONS;"


@pytest.mark.parametrize("path,text", _vertica_files(), ids=[p for p, _ in _vertica_files()])
def test_every_vertica_sql_file_names_only_contract_tables_and_columns(path: str, text: str) -> None:
    code = _code(text)
    local = {m.group(2).lower() for m in ALIASES_RE.finditer(code)} | {m.group(1).lower() for m in AS_RE.finditer(code)}
    with_names = {m.group(1).lower() for m in re.finditer(r"(?:\bWITH|,)\s*([A-Za-z_]\w*)\s+AS\s*\(", code, re.I)}
    with_names |= {m.group(1).lower() for m in re.finditer(r"\bCONSTRAINT\s+([A-Za-z_]\w*)", code, re.I)}
    local |= with_names
    unknown = set()
    for match in WORD_RE.finditer(code):
        word = match.group(1).lower()
        if word in VERTICA_WORDS or word in CONTRACT_NAMES or re.fullmatch(r"[a-z]\d?", word):
            continue
        if word in local and (word in with_names or word not in CONTRACT_NAMES):
            # a derived name (alias, CTE) must not shadow a contract name with another meaning
            continue
        unknown.add(word)
    assert not unknown, f"sql/vertica/{path} names {sorted(unknown)}, which are not in the storage contract"


@pytest.mark.parametrize("table", sorted(TABLES))
def test_vertica_tables_have_the_contract_columns_in_order(table: str) -> None:
    text = load_registry("vertica", "schema")[table].text
    body = _code(text).split("(", 1)[1]
    columns = [m.group(1) for m in re.finditer(r"^\s*([a-z_]\w*)\s+(?:VARCHAR|INTEGER|FLOAT|BOOLEAN|LONG)",
                                             body, re.M | re.I)]
    want = TABLES[table].names
    assert columns == want
    # a table of symbols is spread by symbol; a small reference table (no symbol) is copied to every node
    spread = "SEGMENTED BY HASH(symbol) ALL NODES" if "symbol" in want else "UNSEGMENTED ALL NODES"
    assert "ORDER BY" in text and spread in text


def test_vertica_daily_metrics_has_the_duckdb_columns_in_order() -> None:
    # no Arrow schema in sql.contract for it: the DuckDB table is the contract
    body = _code(load_registry("vertica", "schema")["daily_metrics"].text).split("(", 1)[1]
    columns = re.findall(r"^\s*([a-z_]\w*)\s+(?:VARCHAR|INTEGER|FLOAT|DATE)\b", body, re.M | re.I)
    assert columns == CONTRACT["daily_metrics"]


def test_vertica_write_daily_metrics_inserts_the_columns_it_selects() -> None:
    code = _code(load_registry("vertica", "queries")["write_daily_metrics"].text)
    listed = [c.strip() for c in code.split("(", 1)[1].split(")", 1)[0].split(",")]
    assert listed == CONTRACT["daily_metrics"]
    assert _select_names(code) == listed


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_staging_tables_mirror_their_contract_table(stage: str) -> None:
    table, extra = STAGES[stage]
    body = _code(load_registry("vertica", "staging")[stage].text).split("(", 1)[1]
    columns = [m.group(1) for m in re.finditer(r"^\s*([a-z_]\w*)\s+(?:VARCHAR|INTEGER|FLOAT|BOOLEAN|LONG)",
                                             body, re.M | re.I)]
    assert columns == TABLES[table].names + extra


def test_columns_added_in_place_are_the_last_of_their_table_with_the_create_table_type() -> None:
    # A table created before a column existed gets it from a later schema file (ALTER TABLE ... ADD COLUMN):
    # appended last, so it must be the last column of the CREATE TABLE too, with the same type, in both dialects.
    added = 0
    for dialect in ("duckdb", "vertica"):
        schema = load_registry(dialect, "schema")
        for statement in [*schema, *load_registry(dialect, "migrations")]:
            for table, column, kind in re.findall(
                    r"ALTER TABLE (\w+) ADD COLUMN IF NOT EXISTS (\w+) (\w+)(?:\(\d+\))?;", _code(statement.text), re.I):
                added += 1
                create = _code(schema[table].text).split("(", 1)[1]
                last = re.findall(r"^\s*([a-z_]\w*)\s+(VARCHAR|INTEGER|FLOAT|BOOLEAN|LONG|BIGINT|DOUBLE)\b",
                                  create, re.M | re.I)[-1]
                assert (column, kind.upper()) == (last[0], last[1].upper()), (dialect, statement.name)
                assert column == TABLES[table].names[-1]
    assert added == 6  # market_data.correction, model_params.fingerprint, bar_liquidity.vpin_lee_ready per dialect


def test_partitioned_tables_group_days_hierarchically() -> None:
    for table in ("market_data", "quotes", "trading_signals"):
        text = load_registry("vertica", "schema")[table].text
        assert "PARTITION BY" in text and "CALENDAR_HIERARCHY_DAY(" in text


@pytest.mark.parametrize("view", ["eligible_trades", "enriched_market_data", "jump_events", "symbol_metrics",
                                  "latest_signals", "trades_all", "quotes_all", "signals_all"])
def test_vertica_views_have_the_duckdb_columns(view: str) -> None:
    text = load_registry("vertica", "views")[view].text
    assert _select_names(text) == CONTRACT[view]


def test_the_as_of_join_is_an_event_series_join() -> None:
    assert "INTERPOLATE PREVIOUS VALUE" in load_registry("vertica", "views")["enriched_market_data"].text


def _duckdb_columns(name: str) -> list[str]:
    statement = load_registry("duckdb", "queries")[name]
    params = {p: None for p in statement.params}
    if "row_limit" in params:
        params["row_limit"] = 1
    return [d[0] for d in CON.execute(statement.text, params).description or []]


SELECTS = [q.name for q in load_registry("vertica", "queries")
           if _code(q.text).lstrip().upper().startswith(("SELECT", "WITH")) and q.name not in VERTICA_ONLY["queries"]]


@pytest.mark.parametrize("name", SELECTS)
def test_vertica_queries_return_the_duckdb_columns(name: str) -> None:
    assert _select_names(load_registry("vertica", "queries")[name].text) == _duckdb_columns(name)


def test_the_vertica_only_archive_check_returns_a_count_and_a_day() -> None:
    assert _select_names(load_registry("vertica", "queries")["parquet_only_trade_days"].text) == ["days", "newest_day"]


def test_the_udx_install_script_creates_the_library_and_the_three_signatures() -> None:
    text = load_registry("vertica", "udx")["install"].text
    assert "CREATE OR REPLACE LIBRARY" in text and "DEPENDS :depends_path" in text and "LANGUAGE 'Python'" in text
    assert "NAME 'BatchMicrostructureFactory'" in text and "NAME 'BatchMicrostructureResumeFactory'" in text
    assert "NAME 'BatchMicrostructureQuotesFactory'" in text


def _query_level_null_placements(text: str) -> list[str]:
    """``NULLS FIRST/LAST`` that stand outside every ``OVER (...)`` window clause of a script."""
    code = _code(text)
    windows = []
    for match in re.finditer(r"\bOVER\s*\(", code, re.I):
        depth, end = 0, match.end() - 1
        for end in range(match.end() - 1, len(code)):
            depth += {"(": 1, ")": -1}.get(code[end], 0)
            if depth == 0:
                break
        windows.append((match.start(), end))
    return [m.group(0) for m in re.finditer(r"\bNULLS\s+(?:FIRST|LAST)\b", code, re.I)
            if not any(a < m.start() < b for a, b in windows)]


SCRIPTS = sorted((Path(__file__).resolve().parents[2] / "scripts" / "vertica").iterdir())
SQL_TEXTS = _vertica_files() + [(f"scripts/vertica/{e.name}", e.read_text(encoding="utf-8"))
                                for e in SCRIPTS if e.name.endswith(".sql")]


def test_the_null_placement_check_finds_a_query_level_clause_and_passes_a_window() -> None:
    assert _query_level_null_placements("SELECT a FROM t ORDER BY a, b ASC NULLS LAST;") == ["NULLS LAST"]
    assert _query_level_null_placements(
        "SELECT LAG(a) OVER (PARTITION BY s ORDER BY a NULLS FIRST, COALESCE(b, 0)) FROM t ORDER BY a;") == []


@pytest.mark.parametrize("path,text", SQL_TEXTS, ids=[p for p, _ in SQL_TEXTS])
def test_no_vertica_statement_places_nulls_in_a_query_level_order_by(path: str, text: str) -> None:
    # Vertica documents NULLS FIRST/LAST only in window ORDER BY clauses; a query-level ORDER BY places
    # NULLs by type (the order key of trades therefore has no NULLs: tests/sql/test_trade_order.py)
    assert _query_level_null_placements(text) == [], path
