"""Fast rules of :class:`server.tools.latest.LatestRows` against ``real_time_data`` on a tiny DuckDB file.

Bars, trades, ``bar_liquidity`` and ``bar_realized_spread`` rows are written straight to the file
(``tests/server/memory_rows.py``), so a case costs milliseconds and the reference is the named SQL over the same
file: :meth:`LatestRows.records` must give the records of ``real_time_data`` (its columns; ``bar_end`` and
``last_trade`` are left to the caller), and :meth:`LatestRows.newest_bar_end` the row of ``newest_bar_end``. The
trades put the last trade of some symbols exactly at the cutoff (the oldest newest bar of the wanted symbols minus
one bar) and one nanosecond before it, ties on the instant broken by exchange and by trade id (a string: ``"10" <
"9"``), and a trade of a symbol without bars. Writes are made on a copy of the file per test.
"""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.tools.latest import LatestRows
from tests.server.memory_rows import (BAR, NS, SYMBOLS, T0, FirstQueryInterrupted, bar, base_signals, liquidity,
                                      open_copy, realized, realized_table, signals, states_of, template, trade, trades,
                                      writable_copy)

ROWS = base_signals()
NEWEST = {s: max(r["bar_end_ns"] for r in ROWS if r["symbol"] == s) for s in SYMBOLS}
CUT = BAR * NS


def _base_trades() -> list[dict]:
    out = []
    for k, symbol in enumerate(SYMBOLS):
        end = NEWEST[symbol]
        out += [trade(symbol, end - 5 * CUT, trade_id="old", price=90.0 + k),
                trade(symbol, end - CUT - 1, trade_id="early", price=91.0 + k)]
    out += [
        trade("AAPL", NEWEST["AAPL"] + 5 * NS, exchange=4, price=101.0), trade("AAPL", NEWEST["AAPL"] + 5 * NS,
                                                                              exchange=12, price=102.0),
        trade("ZZ", NEWEST["ZZ"] + 7 * NS, exchange=3, trade_id="9", price=103.0),
        trade("ZZ", NEWEST["ZZ"] + 7 * NS, exchange=3, trade_id="10", price=104.0),
        trade("a", NEWEST["a"] - CUT, trade_id="at", price=105.0, size=7.0),  # exactly at its own cutoff
        trade("NOBAR", T0, price=1.0),
    ]  # B and ab: last trade one nanosecond before their own cutoff
    return out


TRADES = _base_trades()


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    directory = tmp_path_factory.mktemp("latest")
    storage = open_copy(template(directory, ROWS), directory, "base")
    storage.append_trades(trades(TRADES))
    storage.close()
    return directory / "base.duckdb"


@pytest.fixture(scope="module")
def shared(base, tmp_path_factory):
    storage = open_copy(base, tmp_path_factory.mktemp("shared"), "shared")
    yield storage
    storage.close()


@pytest.fixture
def fresh(base, tmp_path, caplog):
    with writable_copy(base, tmp_path, caplog) as storage:
        yield storage


def _sql(storage, symbols, limit, now_ns):
    result = storage.query("real_time_data", {"symbols": symbols, "bar_seconds": BAR, "now_ns": now_ns}, limit)
    return [{**dict(zip(result.columns, row, strict=True)), "bar_end": None, "last_trade": None}
            for row in result.rows], result.truncated


def _same(storage, latest, symbols, limit, now_ns) -> None:
    kept = latest.records(symbols, limit, now_ns)
    assert kept is not None, "answered by the SQL"
    assert kept == _sql(storage, symbols, limit, now_ns), (symbols, limit)


def _newest_same(storage, latest, symbols) -> None:
    row = storage.query("newest_bar_end", {"symbols": symbols, "bar_seconds": BAR}, 1).rows[0]
    assert latest.newest_bar_end(symbols) == tuple(row), symbols


def _all_same(storage, latest, now_ns=T0, *, loaded: bool = True) -> None:
    """Every shape of call answered from memory as the SQL answers it; ``loaded``: the rows were held before (a
    write was applied in place, not forgotten)."""
    assert (latest._held is not None) is loaded
    for symbols in (None, *([s] for s in SYMBOLS), ["AAPL", "B"], ["ab", "a", "NOSUCH"], ["NOSUCH"]):
        _same(storage, latest, symbols, 100, now_ns)
        _newest_same(storage, latest, symbols)
    _same(storage, latest, None, 2, now_ns)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(symbols=st.one_of(st.none(), st.lists(st.sampled_from([*SYMBOLS, "NOBAR", "NOSUCH"]), min_size=1,
                                              max_size=5)),  # repeats too
       limit=st.integers(1, 7), now=st.integers(T0 - 10**12, T0 + 10**12))
def test_any_call_is_answered_from_memory_as_the_sql_answers_it(shared, symbols, limit, now):
    latest = LatestRows.attach(shared, BAR)
    _same(shared, latest, symbols, limit, now)
    _newest_same(shared, latest, symbols)


def test_the_last_trade_counts_from_the_cutoff_on(shared):
    latest = LatestRows.attach(shared, BAR)
    by = {r["symbol"]: r for r in latest.records(None, 100, T0)[0]}
    oldest = min(NEWEST.values())  # cutoff of all: every symbol's "early" trade (or a newer one) counts
    assert all(by[s]["last_trade_ns"] is not None for s in SYMBOLS) and oldest == NEWEST["AAPL"]
    assert (by["AAPL"]["last_price"], by["ZZ"]["last_price"], by["a"]["last_price"], by["a"]["last_size"]) == (
        102.0, 103.0, 105.0, 7.0)  # exchange 12 over 4; trade id "9" over "10"; the trade at the cutoff
    alone = {s: latest.records([s], 5, T0)[0][0] for s in SYMBOLS}
    assert [alone[s]["last_price"] is None for s in SYMBOLS] == [False, True, False, False, True]
    assert alone["a"]["trade_age_seconds"] == (T0 - (NEWEST["a"] - CUT)) / 1e9
    assert alone["a"]["signal_age_seconds"] == (T0 - NEWEST["a"]) / 1e9
    _all_same(shared, latest)


def test_a_load_that_a_write_overlaps_is_discarded_and_the_next_call_loads(shared):
    # a write told while the load reads
    latest = LatestRows(FirstQueryInterrupted(shared, lambda: latest.trades_written(trades([]))), BAR)
    assert latest.records(None, 10, T0) is None and latest.newest_bar_end(None) is None
    _same(shared, latest, None, 10, T0)


def test_new_tied_resent_and_old_trades(fresh):
    latest = LatestRows.attach(fresh, BAR)
    t = NEWEST["ab"] + 20 * NS
    batches = [
        [trade("AAPL", NEWEST["AAPL"] + 5 * NS, exchange=12, price=555.0),  # the held key again: the stored row stays
         trade("ZZ", NEWEST["ZZ"] + 7 * NS, exchange=3, trade_id="91", price=106.0),  # after "9" at the same instant
         trade("B", NEWEST["B"] - 3 * CUT, price=1.5),  # older than B's last trade
         trade("NOBAR", T0 + NS, price=2.0)],
        [trade("ab", t, trade_id="x", price=7.0), trade("ab", t, trade_id="x", price=8.0),  # one key twice: the first
         trade("ab", t - NS, trade_id="z", price=9.0), trade("ab", t, exchange=0, trade_id="y", price=10.0),
         trade("B", t, exchange=2, trade_id="b", price=11.0), trade("B", t, exchange=2, trade_id="a", price=12.0),
         trade("B", t, exchange=1, trade_id="c", price=13.0)],
        [trade("ab", t, trade_id="w", price=14.0), trade("ab", t, trade_id="x", price=15.0),  # held key: stays
         trade("a", t + NS, exchange=2, price=16.0), trade("a", t + NS, exchange=3, price=17.0),
         trade("a", t + NS, exchange=1, price=18.0)],
    ]
    for batch in batches:
        fresh.append_trades(trades(batch))
        _all_same(fresh, latest, t)
    by = {r["symbol"]: r["last_price"] for r in latest.records(None, 100, t)[0]}
    assert (by["AAPL"], by["ZZ"], by["ab"], by["B"], by["a"]) == (102.0, 106.0, 7.0, 11.0, 17.0)
    fresh.append_trades(trades([trade("ZZ", t + 2 * NS, price=19.0)]))  # a batch of one trade
    _all_same(fresh, latest, t)
    assert [r["last_price"] for r in latest.records(["ZZ"], 1, t)[0]] == [19.0]


def test_trades_before_the_first_load_are_read_by_it(fresh):
    latest = LatestRows(fresh, BAR)
    latest.trades_written(trades([trade("AAPL", NEWEST["AAPL"] + 60 * NS, price=3.0)]))  # held nothing: ignored
    assert latest._trades == {}
    fresh.append_trades(trades([trade("AAPL", NEWEST["AAPL"] + 61 * NS, price=4.0)]))
    _all_same(fresh, latest, loaded=False)


def test_new_newest_bars_with_liquidity_and_realized_values(fresh):
    latest = LatestRows.attach(fresh, BAR)
    a_end, b_end = NEWEST["AAPL"], NEWEST["B"]
    # realized rows of the newest bars, then those bars written again (a recompute): the rows stay the bars'
    fresh.write_realized_spread(realized_table([realized("AAPL", a_end, 0.25), realized("B", b_end, 0.5)]))
    _all_same(fresh, latest)
    rows = [bar("AAPL", a_end, tag=1), bar("B", b_end - CUT, tag=2), bar("B", b_end, tag=3),
            bar("B", b_end, grid=300, tag=9)]  # the other grid's row of the same instant last
    fresh.commit_signals(signals(rows), states_of(rows), liquidity=liquidity("B", b_end, 0.125))
    _all_same(fresh, latest, b_end)
    by = {r["symbol"]: r for r in latest.records(None, 100, b_end)[0]}
    assert (by["B"]["n_trades"], by["B"]["quoted_spread"], by["B"]["realized_spread"], by["AAPL"]["realized_spread"],
            by["AAPL"]["n_trades"], by["AAPL"]["quoted_spread"]) == (13, 0.125, 0.5, 0.25, 11, None)  # fmt: skip
    # new newest bars committed with their realized rows: told of the bars, then of the realized rows
    end = NEWEST["ab"] + 3 * CUT
    rows = [bar("ZZ", end, tag=4), bar("a", end - CUT, tag=5)]
    fresh.commit_signals(signals(rows), states_of(rows), realized=realized_table([realized("ZZ", end, 0.75)]))
    _all_same(fresh, latest, end)


def test_a_state_naming_a_bar_not_committed_reloads(fresh, caplog):
    latest = LatestRows.attach(fresh, BAR)
    older = sorted(r["bar_end_ns"] for r in ROWS if r["symbol"] == "ZZ")[-3]
    states = states_of([bar("ZZ", older)])
    with caplog.at_level(logging.INFO, logger="microstructure.server"):
        fresh.commit_signals(signals([]), states)  # the state moved back to a stored bar (a rewind's state)
    assert [r.getMessage() for r in caplog.records if r.name == "microstructure.server"] == [
        "the newest bar of ZZ is not among the rows committed: reloading"]
    _all_same(fresh, latest, loaded=False)  # forgotten, loaded again
    held = states_of([bar("B", NEWEST["B"])])
    fresh.commit_signals(signals([]), held)  # the state of the bar held: nothing to read
    _all_same(fresh, latest)
    rows = [bar("NEW", NEWEST["ab"] + CUT, tag=6)]
    fresh.commit_signals(signals(rows), [])  # a bar without its state: not the newest of anything yet
    _all_same(fresh, latest)
    fresh.commit_signals(signals([]), states_of(rows))  # then its state alone: a symbol not held gets its bar
    _all_same(fresh, latest, loaded=False)
    assert [r["n_trades"] for r in latest.records(["NEW"], 5, T0)[0]] == [16]


def test_a_hundred_symbols_are_all_kept(fresh):
    latest = LatestRows.attach(fresh, BAR)
    names = [f"S{i:03d}" for i in range(100)]
    rows = [bar(s, T0 + i * NS * BAR, tag=i) for i, s in enumerate(names)]
    fresh.append_trades(trades([trade(s, T0 + i * NS * BAR + NS, price=float(i)) for i, s in enumerate(names)]))
    fresh.commit_signals(signals(rows), states_of(rows))
    fresh.write_realized_spread(realized_table([realized(s, T0 + i * NS * BAR, i / 100) for i, s in enumerate(names)]))
    _all_same(fresh, latest)
    _same(fresh, latest, None, 200, T0)
    again = LatestRows.attach(fresh, BAR)  # loaded with all of them
    _same(fresh, again, None, 200, T0)
    rows = [bar(s, T0 + i * NS * BAR, tag=i + 1) for i, s in enumerate(names)]  # rewritten: realized rows stay
    fresh.commit_signals(signals(rows), states_of(rows))
    _same(fresh, again, None, 200, T0)
    assert sum(r["realized_spread"] is not None for r in again.records(None, 200, T0)[0]) == 100


def test_commits_of_another_grid_change_nothing(fresh):
    latest = LatestRows.attach(fresh, BAR)
    rows = [bar("AAPL", NEWEST["ab"] + CUT, grid=300, tag=5)]
    fresh.commit_signals(signals(rows), states_of(rows))
    fresh.write_realized_spread(realized_table([realized("AAPL", NEWEST["AAPL"], 0.9, grid=300)]))
    _all_same(fresh, latest)


def test_realized_rows_written_later_reach_the_newest_bars_only(fresh):
    latest = LatestRows.attach(fresh, BAR)
    older = sorted(r["bar_end_ns"] for r in ROWS if r["symbol"] == "ZZ")[-2]
    fresh.write_realized_spread(realized_table([realized("ZZ", older, 0.3), realized("a", NEWEST["a"], 0.4),
                                                realized("ab", NEWEST["ab"], 0.6)]))
    _all_same(fresh, latest)
    by = {r["symbol"]: r for r in latest.records(None, 100, T0)[0]}
    assert (by["ZZ"]["realized_spread"], by["a"]["realized_spread"], by["ab"]["price_impact"]) == (None, 0.4, -0.3)
    fresh.write_realized_spread(realized_table([realized("ZZ", older - CUT, 0.3)]))  # none of a held bar
    _all_same(fresh, latest)


def test_a_reset_forgets_its_symbols_a_failed_write_everything(fresh):
    latest = LatestRows.attach(fresh, BAR)
    fresh.reset_signals(["ZZ"], BAR)
    _all_same(fresh, latest)
    fresh.reset_signals(["AAPL"], 300)
    _all_same(fresh, latest)
    latest.write_failed(RuntimeError("seeded"))
    _all_same(fresh, latest, loaded=False)


def test_writes_before_the_first_load(fresh):
    latest = LatestRows(fresh, BAR)
    rows = [bar("AAPL", NEWEST["ab"] + CUT)]
    latest.signals_written(signals(rows), states_of(rows))  # held nothing: ignored
    latest.realized_written(realized_table([realized("AAPL", NEWEST["AAPL"], 0.9)]))
    _all_same(fresh, latest, loaded=False)
