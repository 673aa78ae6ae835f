"""``udx.transform.state_at`` against the state a transform run stores (``signal_state``), field by field.

One tiny DuckDB file per module (scripts/mutation group ``state-at``): test_transform_small.py's three symbols over
test_pipeline_small.py's four one-hour sessions (a stock whose prints carry Polygon conditions and corrections, two
crypto pairs whose prints carry Polygon's crypto side codes ``1`` / ``2``, a few invalid prints) and the stock's
quotes, loaded in pieces with a transform run after each. Each run's watermark is put at a chosen time by a
sentinel print of a fourth symbol two seconds (the lateness) after it: inside a bar of the first session, exactly
at the end of the second session's first bar, in the weekend, just after the weekend's first bars and inside the
fourth session. The stored state after each run is what ``state_at`` must rebuild from the trades alone, at the
watermark and at the stored last bar's end: with the bar liquidity (a symbol with quotes and two without) and
without it (then exactly the state without the ``liq_*`` arrays, the names :mod:`udx.liquidity_step` documents),
through the archive reader and through the live reader of a storage without one, after retention moved the
oldest days to the Parquet archive, and ``None`` before a symbol's first bar.

The expected states are the ones the incremental runs stored (restartable runs on growing data equal one pass:
test_transform_small.py checks those rows against the independent reference); the last bar of each state is also
checked against the reference bars (``tests/reference/bars.py``).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from reference import bars as rb
from reference.sessions import sessions
from sql.archive import archive
from test_pipeline_small import FINAL, NS, SESSIONS, SPEC
from test_transform_small import ALL, QUOTES, SETTINGS, SYMBOLS, load, open_db, table
from udx.state import SymbolState
from udx.state_cache import load_states
from udx.transform import liquidity_config, run_transform, signal_config, state_at

pytestmark = pytest.mark.duckdb
DuckDBStorage = pytest.importorskip("sql.duckdb_backend").DuckDBStorage

MINUTE = 60 * NS
#: the runs' watermarks: inside a bar of the first session, the end of the second session's first bar (a session
#: start), Sunday (the last bar is Friday's close), three bars and a nanosecond into Monday (after the weekend and
#: the daylight-saving change), inside the fourth session
CUTS = [SESSIONS[0][0] + 20 * MINUTE + 7, SESSIONS[1][0] + MINUTE, SESSIONS[2][0] - 86_400 * NS,
        SESSIONS[2][0] + 3 * MINUTE + 1, FINAL]
#: the sentinel symbol whose print two seconds after a cut puts the run's watermark at the cut
SENTINEL = "X:ZZZ"
LATENESS = int(SETTINGS["transform_lateness_seconds"] * NS)


def _rows() -> list[tuple]:
    """test_transform_small.py's prints (without its last crypto print, which sets its watermark), the crypto
    prints with Polygon's side code (``1`` sell, ``2`` buy; read as stock codes ``2`` would be an average-price
    print that sets no price)."""
    out = []
    for k, r in enumerate(r for r in ALL if r[5] != "last"):
        out.append((*r[:6], ("1", "2")[k % 2], *r[7:]) if r[0] == "crypto" else r)
    return out


ROWS = _rows()


class _Without:
    """A storage without some of its readers (an older or a remote backend): every other attribute is the real
    storage's."""

    def __init__(self, storage: Any, *hidden: str) -> None:
        self._storage, self._hidden = storage, hidden

    def __getattr__(self, name: str) -> Any:
        if name in self._hidden:
            raise AttributeError(name)
        return getattr(self._storage, name)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[int, dict[str, SymbolState]]]:
    """The file after every piece is in, and the states stored by the run after each cut."""
    path = tmp_path_factory.mktemp("state_at") / "grow.duckdb"
    stored: dict[int, dict[str, SymbolState]] = {}
    done = 0
    for cut in CUTS:
        storage, config = open_db(path)  # a restart before each run: the states come from the file
        try:
            storage.append_trades(table([r for r in ROWS if done <= r[2] < cut]))
            # AAA's quotes of the piece (its trades are in ROWS)
            load(SimpleNamespace(append_trades=lambda _: 0, append_quotes=storage.append_quotes), done, cut)
            storage.append_trades(table([("crypto", SENTINEL, cut + LATENESS, 1.0, 1.0, f"s{cut}", "1", None)]))
            summary = run_transform(storage, config)
            assert summary.watermark_ns == cut
            stored[cut] = {s: row.state for s, row in load_states(storage, 60).items()}
        finally:
            storage.close()
        done = cut
    return path, stored


def assert_same_state(got: SymbolState | None, want: SymbolState, *, with_liquidity: bool, what: str) -> None:
    """Every field of ``got`` equals ``want``'s; the arrays bit for bit with their dtypes (without the bar
    liquidity: exactly ``want``'s arrays but the ``liq_*`` ones)."""
    assert got is not None, what
    assert got.config == want.config, what
    assert got.last_bar_end_ns == want.last_bar_end_ns, what
    assert got.last_close == want.last_close and np.isfinite(got.last_close), what
    assert got.last_session_open_ns == want.last_session_open_ns, what
    assert got.n_returns == want.n_returns, what
    keys = set(want.arrays) if with_liquidity else {k for k in want.arrays if not k.startswith("liq_")}
    assert any(k.startswith("liq_") for k in want.arrays)  # the run stored the bar liquidity's arrays
    assert set(got.arrays) == keys, what
    for k in sorted(keys):
        assert got.arrays[k].dtype == want.arrays[k].dtype, f"{what} {k}"
        np.testing.assert_array_equal(got.arrays[k], want.arrays[k], err_msg=f"{what} {k}")


def _valid_prints(symbol: str, end: int) -> list[tuple]:
    """The reference's prints of ``symbol`` before ``end``: valid ones with their eligibility (crypto: all)."""
    rules = rb.condition_rules()
    out = []
    for market, s, t, p, size, _, cond, corr in ROWS:
        if s != symbol or t >= end or not (np.isfinite(p) and p > 0):
            continue
        sp, cv = (True, True) if market == "crypto" else rb.eligibility(market, cond, corr, rules)
        if sp or cv:
            out.append((t, p, size, sp, cv))
    return out


@pytest.mark.parametrize("with_liquidity", [True, False])
def test_state_at_each_watermark_is_the_state_the_run_stored(runs, with_liquidity: bool) -> None:
    """At each run's watermark, every symbol's state from its trades alone is the state the run stored (the last
    bar being the reference's last final bar: a session start, Friday's close in the weekend, ...)."""
    path, stored = runs
    storage, config = open_db(path)
    try:
        liquidity = liquidity_config(config) if with_liquidity else None
        for cut in CUTS:
            for symbol, (market, _) in SYMBOLS.items():
                got = state_at(storage, symbol, market, signal_config(config, market), cut, liquidity)
                assert_same_state(got, stored[cut][symbol], with_liquidity=with_liquidity, what=f"{symbol} {cut}")
                bars = rb.make_bars(_valid_prints(symbol, cut), sessions(SPEC, SESSIONS[0][0], cut), MINUTE, cut)
                assert got.last_bar_end_ns == bars[-1]["bar_end_ns"] and got.last_close == bars[-1]["close"]
                assert got.n_returns == len(bars)
        # where the cuts put the last bars: inside the first session, a session's first bar, Friday's close
        assert stored[CUTS[1]]["AAA"].last_bar_end_ns == SESSIONS[1][0] + MINUTE
        assert stored[CUTS[1]]["AAA"].last_session_open_ns == SESSIONS[1][0]
        assert stored[CUTS[2]]["AAA"].last_bar_end_ns == SESSIONS[1][1]
        assert stored[CUTS[3]]["AAA"].last_bar_end_ns == SESSIONS[2][0] + 3 * MINUTE
    finally:
        storage.close()


def test_state_at_a_bar_end_itself_is_the_state_with_that_bar_final(runs) -> None:
    """``end_ns`` exactly at the stored last bar's end (prints stamped there belong to the next bar): the same
    state; one nanosecond before it: the state of the bar before."""
    path, stored = runs
    storage, config = open_db(path)
    try:
        for symbol, (market, _) in SYMBOLS.items():
            cfg = signal_config(config, market)
            want = stored[CUTS[3]][symbol]
            got = state_at(storage, symbol, market, cfg, want.last_bar_end_ns, liquidity_config(config))
            assert_same_state(got, want, with_liquidity=True, what=symbol)
            before = state_at(storage, symbol, market, cfg, want.last_bar_end_ns - 1)
            assert before is not None and before.last_bar_end_ns == want.last_bar_end_ns - MINUTE
            assert before.n_returns == want.n_returns - 1
    finally:
        storage.close()


def test_a_storage_without_the_archive_reader_gives_the_same_states_from_its_live_trades(runs) -> None:
    path, stored = runs
    storage, config = open_db(path)
    try:
        live = _Without(storage, "read_trades_with_archive")
        for cut in (CUTS[1], CUTS[4]):
            for symbol, (market, _) in SYMBOLS.items():
                got = state_at(live, symbol, market, signal_config(config, market), cut, liquidity_config(config))
                assert_same_state(got, stored[cut][symbol], with_liquidity=True, what=f"{symbol} {cut}")
    finally:
        storage.close()


def test_a_storage_without_quotes_gives_the_state_without_the_bar_liquidity(runs) -> None:
    """``liquidity`` asked of a storage that keeps no quotes (no ``read_quotes_many``): the signals' state alone."""
    path, stored = runs
    storage, config = open_db(path)
    try:
        got = state_at(_Without(storage, "read_quotes_many"), "AAA", "stocks", signal_config(config, "stocks"),
                       CUTS[3], liquidity_config(config))
        assert_same_state(got, stored[CUTS[3]]["AAA"], with_liquidity=False, what="AAA")
    finally:
        storage.close()


def test_after_retention_archived_the_oldest_days_the_state_is_still_the_one_pass_state(runs, tmp_path: Path) -> None:
    """Retention moved the first two days' trades to the Parquet archive: the live trades start on Monday, and
    ``state_at`` still rebuilds the states the runs stored (its reads include the archive)."""
    path, stored = runs
    copy = tmp_path / "archived.duckdb"
    shutil.copy(path, copy)
    storage, config = open_db(copy, retain_trades_days=2)
    try:
        report = archive(storage, config)
        assert report.partitions > 0
        for symbol in SYMBOLS:
            live = storage.read_trades(symbol, 0, FINAL)
            assert min(live.column("ts_ns").to_pylist()) >= SESSIONS[2][0] - 86_400 * NS  # Sunday on
        for cut in (CUTS[3], CUTS[4]):
            for symbol, (market, _) in SYMBOLS.items():
                got = state_at(storage, symbol, market, signal_config(config, market), cut, liquidity_config(config))
                assert_same_state(got, stored[cut][symbol], with_liquidity=True, what=f"{symbol} {cut}")
    finally:
        storage.close()


@pytest.mark.parametrize("with_liquidity", [True, False])
def test_before_a_symbol_s_first_bar_there_is_no_state(runs, with_liquidity: bool) -> None:
    """No bar final yet (30 s into the first session; before any print): ``None``, with or without the bar
    liquidity, for the symbol with quotes and one without."""
    path, _ = runs
    storage, config = open_db(path)
    try:
        liquidity = liquidity_config(config) if with_liquidity else None
        for symbol, market in (("AAA", "stocks"), ("X:BBB", "crypto")):
            cfg = signal_config(config, market)
            assert state_at(storage, symbol, market, cfg, SESSIONS[0][0] + 30 * NS, liquidity) is None
            assert state_at(storage, symbol, market, cfg, ROWS[0][2] - 1, liquidity) is None
        assert QUOTES[0][0] < SESSIONS[0][0] + 30 * NS  # AAA has quotes before then
    finally:
        storage.close()
