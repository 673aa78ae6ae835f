"""``run_transform``'s plumbing on the smallest data that still exercises it, so that a mutant of it is judged in
seconds in plain Python (scripts/mutation group ``transform-plumbing``): seven symbols (test_transform_small.py's
stock with Polygon conditions and quotes, its two crypto pairs, four more pairs) over the first session and the
first 20 minutes of the second (two UTC days). Judged here: the summary's counts and the progress calls against
counts made from the prints, commit chunks and read groups of several sizes (more symbols than the run's first
read group) and restarts against one run in every table, the recompute of the symbols whose market's settings
changed (the other market's symbols continue), the realized-spread rows of the bars the horizon passed, and the
daily metrics of a symbol whose first day arrives after the day was written for the others. The values
themselves are checked against the references in test_transform_small.py.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import duckdb
import pytest

from test_pipeline_small import NS, SESSIONS
from test_transform_small import ALL, QUOTES, dump, open_db, prints_of, table
from test_transform_small import append_book
from udx.transform import run_transform

pytestmark = pytest.mark.duckdb

#: the newest trade: the watermark is CUT (20 minutes into the second session; the first UTC day is final)
CUT = SESSIONS[1][0] + 20 * 60 * NS
#: four more crypto pairs: test_transform_small's pairs renamed, their prices scaled (so no two are equal)
EXTRA = {"X:DDD": ("X:BBB", 1.1), "X:EEE": ("X:CCC", 1.2), "X:FFF": ("X:BBB", 1.3), "X:GGG": ("X:CCC", 1.4)}


def _data() -> list[tuple]:
    rows = [r for r in ALL if r[2] < CUT]
    for name, (source, scale) in EXTRA.items():
        rows += [(m, name, t, p * scale, s, f"{name}-{k}", c, x)
                 for k, (m, _, t, p, s, _, c, x) in enumerate(r for r in ALL if r[1] == source and r[2] < CUT)]
    rows.append(("crypto", "X:CCC", CUT + 2 * NS, 100.0, 1.0, "sentinel", None, None))
    return sorted(rows, key=lambda r: r[2])


DATA = _data()
SYMBOLS = sorted({r[1] for r in DATA})
BOOK = [q for q in QUOTES if q[0] < CUT]


def load(storage: object, lo: int, hi: int, without: str = "") -> None:
    """Append the prints (but ``without``'s) and AAA's quotes stamped in ``[lo, hi)``."""
    rows = [r for r in DATA if lo <= r[2] < hi and r[1] != without]
    if rows:
        storage.append_trades(table(rows))  # type: ignore[attr-defined]
    book = [q for q in BOOK if lo <= q[0] < hi]
    if book:
        append_book(storage, "stocks", "AAA", book)


def run(path: Path, pieces: list[int], per_commit: int = 100, **changes: object) -> list:
    """Load the data in ``pieces`` (cut times), a transform (after a restart) after each; the summaries."""
    out, done = [], 0
    for cut in [*pieces, CUT + 3 * NS]:
        storage, config = open_db(path, **changes)
        try:
            load(storage, done, cut)
            out.append(run_transform(storage, config, symbols_per_commit=per_commit))
        finally:
            storage.close()
        done = cut
    return out


@pytest.fixture(scope="module")
def one(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object, list, float]:
    path = tmp_path_factory.mktemp("plumbing") / "one.duckdb"
    storage, config = open_db(path)
    calls: list[tuple[int, int]] = []
    try:
        load(storage, 0, CUT + 3 * NS)
        before = time.perf_counter()
        summary = run_transform(storage, config, progress=lambda d, t: calls.append((d, t)))
        outer = time.perf_counter() - before
    finally:
        storage.close()
    return path, summary, calls, outer


def _valid_before(symbol: str, lo: int, hi: int) -> int:
    """The prints of ``symbol`` the signals use (valid, not neither-kind) stamped in ``[lo, hi)``."""
    return len([p for p in prints_of(symbol, DATA) if lo <= p[0] < hi])


def test_the_summary_and_the_progress_count_what_the_run_did(one) -> None:
    path, summary, calls, outer = one
    sig, fits, daily, liquidity, realized = dump(path)
    assert summary.watermark_ns == CUT
    assert summary.symbols == len(SYMBOLS) == 7
    assert summary.bars == len(sig) > 7 * 60
    assert summary.fits == len(fits) >= 7  # a GARCH fit of every symbol in the first session
    assert summary.trades == sum(_valid_before(s, 0, CUT) for s in SYMBOLS)
    assert calls == [(k, 7) for k in range(1, 8)]
    with duckdb.connect(str(path), read_only=True) as con:
        last = dict(con.execute("SELECT symbol, max(bar_end_ns) FROM trading_signals GROUP BY symbol").fetchall())
    assert sorted(last) == SYMBOLS and summary.next_bar_end_ns == min(last.values()) + 60 * NS
    assert 0 <= summary.seconds <= outer
    assert str(summary).startswith(f"7 symbols, {len(sig)} bars, {len(fits)} model fits, {summary.trades} trades ")
    assert len(liquidity) == len(sig)
    horizon = 300 * NS
    assert sorted((r[0], r[1]) for r in realized) == sorted((r[0], r[1]) for r in sig if r[1] + horizon <= CUT)
    assert sorted({r[0] for r in daily}) == SYMBOLS  # the first day of each symbol is final


#: cut inside a bar of the first session, after its close, and inside the second session
PIECES = [SESSIONS[0][0] + 20 * 60 * NS + 7, SESSIONS[0][1] + 3 * 60 * NS, SESSIONS[1][0] + 9 * 60 * NS + 1]


@pytest.mark.parametrize("per_commit", [1, 3, 100])
def test_chunks_and_restarts_equal_one_run(one, tmp_path: Path, per_commit: int) -> None:
    """Commit chunks of 1 and 3 symbols (a chunk of 3 read in one group, the last chunk of 1) and of all 7 (read
    in groups of 5 and 2), the data in pieces with a restart before each run: every table equals one run's,
    the summaries add up to its counts and each run reads its symbols' prints from the end of their last bar."""
    path = tmp_path / "grow.duckdb"
    summaries = run(path, PIECES, per_commit)
    assert dump(path) == dump(one[0])
    sig, fits, *_ = dump(path)
    assert sum(s.bars for s in summaries) == len(sig) and sum(s.fits for s in summaries) == len(fits)
    assert summaries[-1].next_bar_end_ns == one[1].next_bar_end_ns
    assert [s.symbols for s in summaries] == [7, 7, 7, 7]
    # run 2 on: each symbol reads from the end of its last bar (the first run's bars end before the first cut)
    assert summaries[0].trades <= sum(_valid_before(s, 0, PIECES[0]) for s in SYMBOLS)
    assert summaries[0].trades > 0 and sum(s.trades for s in summaries) >= one[1].trades


def test_a_changed_market_setting_recomputes_that_markets_symbols_only(one, tmp_path: Path, caplog) -> None:
    """The crypto session changed between two runs: the six pairs are recomputed from their first trade (one
    warning line names them), the stock continues from its state; every table equals a fresh run with the new
    setting, and the summary counts the recomputed bars."""
    new = "09:31-10:31 America/New_York"
    path = tmp_path / "stale.duckdb"
    storage, config = open_db(path)
    try:
        load(storage, 0, PIECES[1])
        run_transform(storage, config)
    finally:
        storage.close()
    aaa_last = max(r[1] for r in dump(path)[0] if r[0] == "AAA")
    storage, config = open_db(path, session_crypto=new)
    try:
        load(storage, PIECES[1], CUT + 3 * NS)
        with caplog.at_level(logging.WARNING, logger="udx.transform"):
            summary = run_transform(storage, config, symbols_per_commit=4)
    finally:
        storage.close()
    fresh = tmp_path / "fresh.duckdb"
    run(fresh, [], 100, session_crypto=new)
    assert dump(path) == dump(fresh)
    crypto_bars = len([r for r in dump(fresh)[0] if r[0] != "AAA"])
    aaa_new = len([r for r in dump(fresh)[0] if r[0] == "AAA" and r[1] > PIECES[1] - 2 * NS])
    assert summary.symbols == 7 and summary.bars == crypto_bars + aaa_new and aaa_new > 0
    assert summary.fits > 0
    # the pairs read every print again, the stock from the end of its last bar
    assert summary.trades == sum(_valid_before(s, 0, CUT) for s in SYMBOLS if s != "AAA") + \
        _valid_before("AAA", aaa_last, CUT)
    lines = [r.getMessage() for r in caplog.records if "recomputing" in r.getMessage()]
    assert len(lines) == 1 and "of 6 symbol(s)" in lines[0] and "AAA" not in lines[0]
    assert all(s in lines[0] for s in SYMBOLS if s != "AAA")


def test_daily_metrics_of_a_symbol_whose_first_day_arrives_late(one, tmp_path: Path) -> None:
    """X:BBB's prints arrive after the first day was written for the others: the next run writes its day too."""
    path = tmp_path / "late.duckdb"
    storage, config = open_db(path)
    try:
        load(storage, 0, CUT + 3 * NS, without="X:BBB")
        run_transform(storage, config)
        written = {r[0] for r in storage.fetch_all("SELECT symbol FROM daily_metrics")}  # type: ignore[attr-defined]
        assert written == set(SYMBOLS) - {"X:BBB"}
        storage.append_trades(table([r for r in DATA if r[1] == "X:BBB"]))
        late = run_transform(storage, config)
    finally:
        storage.close()
    assert late.symbols == 1 and late.trades == _valid_before("X:BBB", 0, CUT)
    assert dump(path) == dump(one[0])


class _Counting:
    """The DuckDB storage, recording the symbols whose states each ``commit_signals`` transaction writes."""

    def __init__(self, inner: object) -> None:
        self._inner = inner
        self.commits: list[list[str]] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def commit_signals(self, signals: object, states: list, *args: object, **kwargs: object) -> object:
        self.commits.append([s.symbol for s in states])
        return self._inner.commit_signals(signals, states, *args, **kwargs)  # type: ignore[attr-defined]


@pytest.mark.parametrize("per_commit", [3, 6, 100])
def test_one_transaction_per_chunk_of_symbols(one, tmp_path: Path, per_commit: int) -> None:
    """``symbols_per_commit`` symbols (in name order) per transaction, whatever the read groups inside a chunk
    (six in one: groups of 5 and 1, then a chunk of one; all seven in one: groups of 5 and 2), and the rows of
    one run."""
    path = tmp_path / "chunks.duckdb"
    storage, config = open_db(path)
    try:
        load(storage, 0, CUT + 3 * NS)
        counting = _Counting(storage)
        run_transform(counting, config, symbols_per_commit=per_commit)  # type: ignore[arg-type]
    finally:
        storage.close()
    want = [SYMBOLS[k:k + per_commit] for k in range(0, len(SYMBOLS), per_commit)]
    assert [sorted(c) for c in counting.commits] == want
    assert dump(path) == dump(one[0])


def test_an_empty_list_of_the_callers_symbols_computes_nothing(tmp_path: Path) -> None:
    """The caller keeps the symbols and has none yet: nothing is read or written, and the summary says so."""
    path = tmp_path / "none.duckdb"
    storage, config = open_db(path)
    try:
        load(storage, 0, CUT + 3 * NS)
        calls: list[tuple[int, int]] = []
        summary = run_transform(storage, config, symbols=[], progress=lambda d, t: calls.append((d, t)))
    finally:
        storage.close()
    assert (summary.symbols, summary.bars, summary.fits, summary.trades) == (0, 0, 0, 0)
    assert summary.watermark_ns == CUT and summary.next_bar_end_ns is None and calls == []
    assert dump(path)[0] == [] and dump(path)[4] == []


def test_daily_metrics_of_a_symbol_whose_first_bar_is_the_last_of_a_finished_day(tmp_path: Path) -> None:
    """A pair whose prints arrive after the first day was written for the others, the first of them in that day's
    last bar and the rest in the second session: the next run of the same process writes the first day's
    metrics of the pair too (its oldest new bar is in the finished day, its second already in the next)."""
    path = tmp_path / "edge.duckdb"
    late = [("crypto", "X:LATE", SESSIONS[0][1] - 30 * NS, 100.0, 5.0, "late-0", None, None)] + [
        ("crypto", "X:LATE", t, p, s, f"late-{k + 1}", None, None)
        for k, (_, _, t, p, s, *_) in enumerate(r for r in DATA if r[1] == "X:BBB" and r[2] >= SESSIONS[1][0])]
    storage, config = open_db(path)
    try:
        load(storage, 0, CUT + 3 * NS)
        run_transform(storage, config)
        storage.append_trades(table(late))
        summary = run_transform(storage, config)
    finally:
        storage.close()
    with duckdb.connect(str(path), read_only=True) as con:
        bars = [e for (e,) in con.execute("SELECT bar_end_ns FROM trading_signals WHERE symbol = 'X:LATE' "
                                          "ORDER BY 1").fetchall()]
        daily = [r[0] for r in con.execute("SELECT symbol FROM daily_metrics").fetchall()]
    assert summary.symbols == 1 and bars[0] == SESSIONS[0][1] and bars[1] > SESSIONS[1][0]
    assert sorted(daily) == sorted([*SYMBOLS, "X:LATE"])  # one final day each, the late pair's included
