"""The transform's chunks on a real DuckDB file: a run cut into chunks of one symbol (each read on the reader
thread, computed, committed on the writer thread while the next one computes) writes the rows of a run in one
chunk, in every table, realized spreads included; so do runs on data arriving in pieces, one symbol per chunk,
with a symbol whose quotes never arrive. Times are pinned, never the wall clock."""

from __future__ import annotations

import math
from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pytest

from ingest.synthetic_market import DEFAULT_SYMBOLS, THIN_SYMBOLS, SyntheticMarket
from sql.contract import (
    BAR_LIQUIDITY_SCHEMA,
    BAR_REALIZED_SPREAD_SCHEMA,
    INTRADAY_PROFILE_SCHEMA,
    MODEL_PARAMS_SCHEMA,
    SIGNALS_SCHEMA,
)
from sql.settings import Settings
from udx.transform import run_transform

pytestmark = pytest.mark.duckdb
DuckDBStorage = pytest.importorskip("sql.duckdb_backend").DuckDBStorage

NS = 10**9
BAR = 60
H = 300
END = 1_750_000_000 * NS - (1_750_000_000 % BAR) * NS  # on the bar grid
START = END - 60 * 60 * NS
#: Three stocks, a crypto pair and a thin stock (a quote's life spans runs); the third stock's quotes are never
#: loaded.
SYMBOLS = (*tuple(s for s in DEFAULT_SYMBOLS if s.market == "stocks")[:3],
           *tuple(s for s in DEFAULT_SYMBOLS if s.market == "crypto")[:1], *THIN_SYMBOLS[:1])
NO_QUOTES = SYMBOLS[2].symbol
TRADES, QUOTES = SyntheticMarket(11, 20.0, SYMBOLS, quote_dynamics=True).history(START, END)
#: Every table the transform writes, with the columns compared (``computed_at_ns`` / ``fitted_at_ns`` and the
#: state's write time aside).
TABLES = {
    "trading_signals": [f.name for f in SIGNALS_SCHEMA if f.name != "computed_at_ns"],
    "bar_liquidity": [f.name for f in BAR_LIQUIDITY_SCHEMA if f.name != "computed_at_ns"],
    "bar_realized_spread": [f.name for f in BAR_REALIZED_SPREAD_SCHEMA if f.name != "computed_at_ns"],
    "model_params": [f.name for f in MODEL_PARAMS_SCHEMA if f.name != "fitted_at_ns"],
    "intraday_profile": [f.name for f in INTRADAY_PROFILE_SCHEMA if f.name != "computed_at_ns"],
    "signal_state": ["symbol", "bar_seconds", "last_bar_end_ns", "state"],
}


def _settings(path: Path) -> Settings:
    return Settings(_env_file=None, duckdb_path=path, bar_seconds=BAR, session_stocks="00:00-24:00 UTC",  # type: ignore[call-arg]
                    transform_lateness_seconds=0.0, liquidity_horizon_seconds=H, garch_min_obs=50, acd_min_obs=50)


def _run(path: Path, cuts: list[int], symbols_per_commit: int) -> None:
    """Load the trades and quotes in the pieces ``cuts`` make, a transform after each."""
    settings_ = _settings(path)
    storage = DuckDBStorage.open(settings_)
    quotes = QUOTES.filter(pc.not_equal(QUOTES["symbol"], NO_QUOTES))
    try:
        storage.apply_schema()
        bounds = [START, *cuts, END + 1]
        for k, (lo, hi) in enumerate(zip(bounds, bounds[1:], strict=False)):
            for table, add in ((TRADES, storage.append_trades), (quotes, storage.append_quotes)):
                add(table.filter(pc.and_(pc.greater_equal(table["ts_ns"], lo), pc.less(table["ts_ns"], hi))))
            run_transform(storage, settings_, now_ns=k + 1, symbols_per_commit=symbols_per_commit)
    finally:
        storage.close()


def _dump(path: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {table: con.execute(f"SELECT {', '.join(columns)} FROM {table} "
                                   f"ORDER BY {', '.join(columns)}").fetchall() for table, columns in TABLES.items()}


def _same(a: list[tuple], b: list[tuple]) -> bool:
    return len(a) == len(b) and all(
        u == v or (isinstance(u, float) and isinstance(v, float) and math.isnan(u) and math.isnan(v))
        for x, y in zip(a, b, strict=True) for u, v in zip(x, y, strict=True))


@pytest.fixture(scope="module")
def one_chunk(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple]]:
    path = tmp_path_factory.mktemp("one") / "one.duckdb"
    _run(path, [], symbols_per_commit=100)
    return _dump(path)


def test_the_one_chunk_run_writes_every_table_for_every_symbol(one_chunk):
    for table in ("trading_signals", "bar_liquidity", "bar_realized_spread", "signal_state"):
        assert {row[0] for row in one_chunk[table]} == {s.symbol for s in SYMBOLS}, table
    realized = one_chunk["bar_realized_spread"]
    assert sum(1 for r in realized if r[4] > 0) > 100  # rows with matched prints, not only empty ones
    assert len(one_chunk["model_params"]) > 0


def test_one_symbol_per_chunk_writes_the_rows_of_one_chunk(one_chunk, tmp_path):
    path = tmp_path / "chunks.duckdb"
    _run(path, [], symbols_per_commit=1)
    got = _dump(path)
    for table, rows in one_chunk.items():
        assert _same(got[table], rows), table


def test_runs_on_pieces_one_symbol_per_chunk_equal_one_pass(one_chunk, tmp_path):
    """Cuts off the bar grid: some runs move the watermark past a horizon without completing a bar, so a chunk
    writes realized spreads of stored bars for symbols that compute nothing."""
    path = tmp_path / "pieces.duckdb"
    _run(path, [START + s * NS for s in (7 * 60 + 13, 9 * 60 + 41, 20 * 60 + 30, 20 * 60 + 50, 41 * 60 + 5)],
         symbols_per_commit=1)
    got = _dump(path)
    for table, rows in one_chunk.items():
        if table != "signal_state":  # a state is written at each run: its bytes differ, its bars do not
            assert _same(got[table], rows), table
    assert [r[:3] for r in got["signal_state"]] == [r[:3] for r in one_chunk["signal_state"]]


@pytest.mark.parametrize(("per_commit", "first"), [(100, 2), (3, 2), (100, 1), (3, 1)])
def test_chunks_read_in_groups_commit_each_chunk_once_with_the_rows_of_one_chunk(one_chunk, tmp_path, monkeypatch,
                                                                                 per_commit, first):
    """Reads of two symbols at a time (``_READ_SYMBOLS``), the first of ``first`` (``_FIRST_READ_SYMBOLS``):
    each chunk of ``symbols_per_commit`` symbols is still one transaction holding exactly its symbols, and the
    rows are those of the one-chunk run."""
    import udx.transform as transform

    monkeypatch.setattr(transform, "_READ_SYMBOLS", 2)
    monkeypatch.setattr(transform, "_FIRST_READ_SYMBOLS", first)
    committed: list[list[str]] = []
    commit = DuckDBStorage.commit_signals

    def counted(self, signals, states, *args, **kwargs):
        committed.append(sorted(state.symbol for state in states))
        return commit(self, signals, states, *args, **kwargs)

    monkeypatch.setattr(DuckDBStorage, "commit_signals", counted)
    path = tmp_path / "groups.duckdb"
    _run(path, [], symbols_per_commit=per_commit)
    names = sorted(s.symbol for s in SYMBOLS)
    assert committed == [names[lo:lo + per_commit] for lo in range(0, len(names), per_commit)]
    got = _dump(path)
    for table, rows in one_chunk.items():
        assert _same(got[table], rows), table


@pytest.mark.parametrize(("chunks", "first", "size"), [([5], 2, 3), ([3, 4, 1], 1, 2), ([2], 5, 2), ([], 1, 2)])
def test_read_groups_cut_each_chunk_with_a_small_first_group(chunks, first, size):
    """Groups of ``size`` symbols, the run's first of ``first``, none across two chunks; written out by hand."""
    from udx.transform import _read_groups

    plans = [[f"{k}.{i}" for i in range(n)] for k, n in enumerate(chunks)]
    got = _read_groups(plans, first, size)  # type: ignore[arg-type]  # only sliced and counted
    want = {(5,): {2: [(0, ["0.0", "0.1"]), (0, ["0.2", "0.3", "0.4"])]},
            (3, 4, 1): {1: [(0, ["0.0"]), (0, ["0.1", "0.2"]), (1, ["1.0", "1.1"]), (1, ["1.2", "1.3"]),
                            (2, ["2.0"])]},
            (2,): {5: [(0, ["0.0", "0.1"])]},
            (): {1: []}}[tuple(chunks)][first]
    assert got == want
