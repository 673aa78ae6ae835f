"""udx.recompute called directly (milliseconds a test): what ``transform --recompute [--since]`` rewinds, from
when, and what it says, against a storage that records each call and ``state_at`` replaced by a recorder; one
tiny DuckDB file (built once for the module) checks the rewind on a real file.

Expected values come from the module's contract (its docstring and ``prepare_recompute``'s): a symbol is
recomputed from the open of the session holding ``since`` or the next one, its state computed through
``min(that open, newest trade - TRANSFORM_LATENESS_SECONDS)``; an archived symbol never before the first
session opening at or after its archive's end; session opens are written down by hand (New York 09:30 is 14:30
UTC before 2024-03-10 and 13:30 UTC after).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from sql.backend import SignalStateRow
from sql.settings import Settings
from udx import recompute
from udx.recompute import parse_since, prepare_recompute

NS = 10**9


def _ns(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()) * NS


FRI_OPEN, FRI_CLOSE = _ns("2024-03-08T14:30"), _ns("2024-03-08T21:00")  # New York, before DST
MON_OPEN, MON_CLOSE = _ns("2024-03-11T13:30"), _ns("2024-03-11T20:00")  # after DST
TUE_OPEN = _ns("2024-03-12T13:30")
NEWEST = _ns("2024-03-12T18:00")


def _settings(**extra: object) -> Settings:
    values: dict[str, object] = {"bar_seconds": 60, "transform_lateness_seconds": 2.5, **extra}
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


class Recorder:
    """A storage that records what prepare_recompute asks of it."""

    def __init__(self, symbols: list[tuple[str, str]], archived: dict[str, int] | None = None,
                 newest: int = NEWEST) -> None:
        self.symbols, self.newest, self.calls = symbols, newest, []
        if archived is not None:
            self.archived_until = lambda: list(archived.items())

    def trade_symbols(self) -> list[tuple[str, str]]:
        return self.symbols

    def newest_trade_ns(self) -> int:
        self.calls.append(("newest",))
        return self.newest

    def reset_signals(self, symbols: list[str], bar_seconds: int) -> None:
        self.calls.append(("reset", list(symbols), bar_seconds))

    def rewind_signals(self, rows: list[SignalStateRow]) -> None:
        self.calls.append(("rewind", list(rows)))


@dataclass
class FakeState:
    last_bar_end_ns: int

    def to_json(self) -> str:
        return f"state@{self.last_bar_end_ns}"


@pytest.fixture
def states(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """``state_at`` replaced: records (symbol, market, session, end, stale_ns) and returns a state whose last bar
    ends a minute before the end asked for (``None`` for symbols starting with ``NEW``: no bar before)."""
    seen: list[tuple] = []

    def fake(storage: object, symbol: str, market: str, cfg: object, end_ns: int, liquidity: object) -> object:
        seen.append((symbol, market, cfg.session, cfg.bar_seconds, end_ns, liquidity.stale_ns))  # type: ignore[attr-defined]
        return None if symbol.startswith("NEW") else FakeState(end_ns - 60 * NS)

    monkeypatch.setattr(recompute, "state_at", fake)
    return seen


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "udx.recompute"]


# --- parse_since, _when, _say ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "want"), [
    ("2024-03-11", _ns("2024-03-11T00:00")),
    (" 2024-03-11T15:00:00Z\n", _ns("2024-03-11T15:00")),
    ("2024-03-11T11:00:00-04:00", _ns("2024-03-11T15:00")),
    ("2024-03-11T15:00:00.250001", _ns("2024-03-11T15:00") + 250_001_000),
    ("2024-03-11T15:00:00.5+01:00", _ns("2024-03-11T14:00") + 500_000_000),
])
def test_since_is_utc_unless_it_names_an_offset_to_the_microsecond(text: str, want: int) -> None:
    assert parse_since(text) == want


def test_since_that_is_not_iso_names_the_option_and_examples() -> None:
    with pytest.raises(ValueError) as info:
        parse_since("last tuesday")
    assert str(info.value) == ("--since 'last tuesday' is not an ISO-8601 date or time, e.g. 2024-03-11 or "
                               "2024-03-11T14:30:00Z")
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The machine's zone set to New York (UTC-4 / -5), so that a time read in local time shows."""
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_times_in_messages_are_utc_minutes(new_york: None) -> None:
    assert recompute._when(_ns("2024-03-11T13:30") + 59 * NS + 999) == "2024-03-11T13:30Z"
    assert recompute._when(_ns("2024-03-11T13:30") + 59_999_999_900) == "2024-03-11T13:30Z"  # not rounded up
    assert recompute._when(0) == "1970-01-01T00:00Z"


def test_since_without_an_offset_is_utc_whatever_the_machines_zone(new_york: None) -> None:
    assert parse_since("2024-03-11T15:00") == _ns("2024-03-11T15:00")
    assert parse_since("2024-03-11") == _ns("2024-03-11T00:00")


def test_the_log_line_names_at_most_ten_symbols(caplog: pytest.LogCaptureFixture) -> None:
    names = [f"S{k:02d}" for k in range(12)]
    with caplog.at_level(logging.INFO, logger="udx.recompute"):
        recompute._say(names, "from somewhere")
        recompute._say(names[:10], "from there")
        recompute._quiet(names, "never said")
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, "recomputing the signals of 12 symbol(s) from somewhere: " + ", ".join(names[:10])
         + ", and 2 more"),
        (logging.WARNING, "recomputing the signals of 10 symbol(s) from there: " + ", ".join(names[:10])),
    ]


# --- sessions --------------------------------------------------------------------------------------------------


def _cfg(market: str, **extra: object) -> object:
    from udx.transform import signal_config

    return signal_config(_settings(**extra), market)


@pytest.mark.parametrize(("since", "want"), [
    ("2024-03-08T15:00", FRI_OPEN),      # inside Friday's session: its open
    ("2024-03-08T14:30", FRI_OPEN),      # at the open
    ("2024-03-08T20:59", FRI_OPEN),      # the last minute
    ("2024-03-08T21:00", MON_OPEN),      # at the close: the next session (over the weekend and DST)
    ("2024-03-09T12:00", MON_OPEN),      # Saturday
    ("2024-03-11T05:00", MON_OPEN),      # before Monday's open
])
def test_the_session_start_is_the_open_of_the_session_holding_since_or_the_next(since: str, want: int) -> None:
    assert recompute._session_start(_cfg("stocks"), _ns(since)) == want


def test_no_session_within_the_search_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    """The documented ``None`` when no session opens within the search (not reachable with the session specs the
    settings accept, which open every weekday): the sessions replaced by none."""
    empty = (np.empty(0, np.int64), np.empty(0, np.int64))
    monkeypatch.setattr(recompute, "session_bounds", lambda *args: empty)
    assert recompute._session_start(_cfg("stocks"), MON_OPEN) is None
    assert recompute._first_open(_cfg("stocks"), MON_OPEN) is None
    monkeypatch.setattr(recompute, "session_bounds", lambda *args: (np.array([FRI_OPEN]), np.array([FRI_CLOSE])))
    assert recompute._first_open(_cfg("stocks"), FRI_OPEN + 1) is None  # only a session opening before


def test_the_first_open_at_or_after_an_archives_end() -> None:
    cfg = _cfg("stocks")
    assert recompute._first_open(cfg, FRI_OPEN) == FRI_OPEN  # at an open: that session
    assert recompute._first_open(cfg, FRI_OPEN + 1) == MON_OPEN  # inside it: the next one
    assert recompute._first_open(cfg, _ns("2024-03-09T00:00")) == MON_OPEN
    crypto = _cfg("crypto")
    assert recompute._first_open(crypto, _ns("2024-03-09T00:00")) == _ns("2024-03-09T00:00")
    assert recompute._first_open(crypto, _ns("2024-03-09T00:01")) == _ns("2024-03-10T00:00")


# --- prepare_recompute: which symbols, refused input -----------------------------------------------------------


def test_everything_without_since_resets_every_symbol_with_trades(states: list, caplog: pytest.LogCaptureFixture) -> None:
    storage = Recorder([("stocks", "MSFT"), ("crypto", "X:BTCUSD"), ("stocks", "AAPL")])
    with caplog.at_level(logging.INFO, logger="udx.recompute"):
        got = prepare_recompute(storage, _settings(bar_seconds=120))
    assert got == ["AAPL", "MSFT", "X:BTCUSD"]
    assert storage.calls == [("reset", ["AAPL", "MSFT", "X:BTCUSD"], 120)] and states == []
    assert _lines(caplog) == ["recomputing the signals of 3 symbol(s) from their first trade: AAPL, MSFT, X:BTCUSD"]


def test_chosen_symbols_are_deduplicated_and_sorted(states: list) -> None:
    storage = Recorder([("stocks", "MSFT"), ("crypto", "X:BTCUSD"), ("stocks", "AAPL")])
    assert prepare_recompute(storage, _settings(), ["MSFT", "AAPL", "MSFT"]) == ["AAPL", "MSFT"]
    assert storage.calls == [("reset", ["AAPL", "MSFT"], 60)]
    storage = Recorder([("stocks", "MSFT")])
    assert prepare_recompute(storage, _settings(), []) == ["MSFT"]  # an empty choice is every symbol


def test_symbols_without_trades_are_refused_naming_them_before_anything_changes(states: list) -> None:
    storage = Recorder([("stocks", "AAPL")])
    with pytest.raises(ValueError) as info:
        prepare_recompute(storage, _settings(), ["ZZZ", "AAPL", "NOPE"])
    assert str(info.value) == "no trades for symbol(s) NOPE, ZZZ; nothing to recompute for them"
    with pytest.raises(ValueError) as info:
        prepare_recompute(Recorder([]), _settings())
    assert str(info.value) == "no symbol has trades; nothing to recompute"
    assert storage.calls == [] and states == []


def test_announce_false_says_nothing(states: list, caplog: pytest.LogCaptureFixture) -> None:
    storage = Recorder([("stocks", "AAPL"), ("stocks", "NEWCO")])
    with caplog.at_level(logging.INFO, logger="udx.recompute"):
        prepare_recompute(storage, _settings(), announce=False)
        prepare_recompute(storage, _settings(), since_ns=MON_OPEN + NS, announce=False)
    assert _lines(caplog) == []
    assert [c[0] for c in storage.calls] == ["reset", "newest", "rewind", "reset"]


# --- prepare_recompute --since ---------------------------------------------------------------------------------


def test_since_rewinds_each_symbol_to_its_markets_session_open(states: list, caplog: pytest.LogCaptureFixture) -> None:
    storage = Recorder([("stocks", "AAPL"), ("crypto", "X:BTCUSD"), ("stocks", "MSFT")])
    settings = _settings(quote_stale_seconds=12.5, session_crypto="00:00-24:00 UTC")
    since = _ns("2024-03-11T15:00")
    with caplog.at_level(logging.INFO, logger="udx.recompute"):
        got = prepare_recompute(storage, settings, None, since)
    assert got == ["AAPL", "MSFT", "X:BTCUSD"]
    day = _ns("2024-03-11T00:00")
    ny = "09:30-16:00 America/New_York"
    assert states == [("AAPL", "stocks", ny, 60, MON_OPEN, 12_500_000_000),
                      ("MSFT", "stocks", ny, 60, MON_OPEN, 12_500_000_000),
                      ("X:BTCUSD", "crypto", "00:00-24:00 UTC", 60, day, 12_500_000_000)]
    rows = [SignalStateRow("AAPL", 60, MON_OPEN - 60 * NS, f"state@{MON_OPEN - 60 * NS}"),
            SignalStateRow("MSFT", 60, MON_OPEN - 60 * NS, f"state@{MON_OPEN - 60 * NS}"),
            SignalStateRow("X:BTCUSD", 60, day - 60 * NS, f"state@{day - 60 * NS}")]
    assert storage.calls == [("newest",), ("rewind", rows)]
    assert _lines(caplog) == ["recomputing the signals of 3 symbol(s) from the session holding 2024-03-11T15:00Z on: "
                              "AAPL (after 2024-03-11T13:29Z), MSFT (after 2024-03-11T13:29Z), "
                              "X:BTCUSD (after 2024-03-10T23:59Z)"]


def test_the_state_is_never_past_the_watermark(states: list) -> None:
    """The session holding ``since`` opened after the newest trade less the lateness: the state is the one at
    the watermark (as a transform would have it)."""
    newest = MON_OPEN + 10 * NS
    storage = Recorder([("stocks", "AAPL")], newest=newest)
    prepare_recompute(storage, _settings(transform_lateness_seconds=2.5), ["AAPL"], _ns("2024-03-11T12:00"))
    assert [s[4] for s in states] == [MON_OPEN]
    states.clear()
    prepare_recompute(Recorder([("stocks", "AAPL")], newest=MON_OPEN - NS), _settings(transform_lateness_seconds=2.5),
                      ["AAPL"], _ns("2024-03-11T12:00"))
    assert [s[4] for s in states] == [MON_OPEN - NS - 2_500_000_000]


def test_a_symbol_without_a_bar_before_the_session_is_reset(states: list, caplog: pytest.LogCaptureFixture) -> None:
    storage = Recorder([("stocks", "AAPL"), ("stocks", "NEWCO"), ("stocks", "NEWER")])
    with caplog.at_level(logging.INFO, logger="udx.recompute"):
        prepare_recompute(storage, _settings(bar_seconds=300), None, MON_OPEN)
    rewound = SignalStateRow("AAPL", 300, MON_OPEN - 60 * NS, f"state@{MON_OPEN - 60 * NS}")
    assert storage.calls == [("newest",), ("rewind", [rewound]), ("reset", ["NEWCO", "NEWER"], 300)]
    assert _lines(caplog) == [
        "recomputing the signals of 1 symbol(s) from the session holding 2024-03-11T13:30Z on: "
        "AAPL (after 2024-03-11T13:29Z)",
        "recomputing the signals of 2 symbol(s) from their first trade (no bar before that session): NEWCO, NEWER"]


# --- prepare_recompute after an archive ------------------------------------------------------------------------


def test_without_an_archive_reader_nothing_is_archived() -> None:
    assert recompute._archived_until(Recorder([])) == {}
    assert recompute._archived_until(Recorder([], {"A": 5, "B": 7})) == {"A": 5, "B": 7}


def test_an_archived_symbol_is_recomputed_from_the_first_session_after_its_archive(
        states: list, caplog: pytest.LogCaptureFixture) -> None:
    """No ``since``: the archived symbol from the first open at or after its archive's end, the other from its
    first trade."""
    storage = Recorder([("stocks", "AAPL"), ("stocks", "MSFT")], archived={"AAPL": FRI_CLOSE})
    with caplog.at_level(logging.INFO, logger="udx.recompute"):
        got = prepare_recompute(storage, _settings())
    assert got == ["AAPL", "MSFT"]
    assert [s[:1] + s[4:5] for s in states] == [("AAPL", MON_OPEN)]
    row = SignalStateRow("AAPL", 60, MON_OPEN - 60 * NS, f"state@{MON_OPEN - 60 * NS}")
    assert storage.calls == [("newest",), ("rewind", [row]), ("reset", ["MSFT"], 60)]
    assert _lines(caplog) == [
        "recomputing the signals of 1 symbol(s) only after the archive (their signals before stay as made; "
        "model_params.fingerprint names the definitions of their fits): AAPL (archived to 2024-03-08T21:00Z)",
        "recomputing the signals of 1 symbol(s) from the first session of their live trades on: "
        "AAPL (after 2024-03-11T13:29Z)",
        "recomputing the signals of 1 symbol(s) from their first trade: MSFT"]


def test_since_after_the_archive_is_kept_and_before_it_is_moved_to_the_archives_end(
        states: list, caplog: pytest.LogCaptureFixture) -> None:
    archived = {"AAPL": FRI_CLOSE, "MSFT": MON_CLOSE, "IBM": MON_OPEN}
    storage = Recorder([("stocks", "AAPL"), ("stocks", "MSFT"), ("stocks", "IBM")], archived=archived)
    with caplog.at_level(logging.INFO, logger="udx.recompute"):
        prepare_recompute(storage, _settings(), None, _ns("2024-03-11T15:00"))
    # AAPL: archived to Friday, since Monday: Monday; IBM archived to Monday's open, since in that session: the
    # same open, kept; MSFT: archived to Monday's close: Tuesday, later than asked
    assert [(s[0], s[4]) for s in states] == [("AAPL", MON_OPEN), ("IBM", MON_OPEN), ("MSFT", TUE_OPEN)]
    assert _lines(caplog)[0] == (
        "recomputing the signals of 1 symbol(s) only after the archive (their signals before stay as made; "
        "model_params.fingerprint names the definitions of their fits): MSFT (archived to 2024-03-11T20:00Z)")
    assert len(_lines(caplog)) == 2 and "from the session holding 2024-03-11T15:00Z on" in _lines(caplog)[1]


def test_an_archived_symbol_without_a_bar_before_its_live_trades_is_left_as_is(
        states: list, caplog: pytest.LogCaptureFixture) -> None:
    storage = Recorder([("stocks", "NEWCO")], archived={"NEWCO": FRI_CLOSE})
    with caplog.at_level(logging.INFO, logger="udx.recompute"):
        assert prepare_recompute(storage, _settings(), announce=False) == ["NEWCO"]
    assert storage.calls == [("newest",)]
    assert _lines(caplog) == [
        "recomputing the signals of 2 symbol(s) only after the archive (their signals before stay as made; "
        "model_params.fingerprint names the definitions of their fits): NEWCO (archived to 2024-03-08T21:00Z), "
        "NEWCO (no bar before its live trades; left as is)"]


def test_an_archived_symbol_with_no_session_after_its_archive_keeps_its_rows(
        states: list, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(recompute, "_first_open", lambda cfg, at: None)
    storage = Recorder([("stocks", "AAPL"), ("stocks", "MSFT")], archived={"AAPL": FRI_CLOSE})
    with caplog.at_level(logging.INFO, logger="udx.recompute"):
        assert prepare_recompute(storage, _settings(), None, MON_OPEN) == ["AAPL", "MSFT"]
    assert [s[0] for s in states] == ["MSFT"]
    assert [c[0] for c in storage.calls] == ["newest", "rewind"] and storage.calls[1][1][0].symbol == "MSFT"
    assert "AAPL (archived to 2024-03-08T21:00Z)" in _lines(caplog)[0]


# --- one real file ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[int]]:
    """Two stocks symbols over Friday and Monday, a trade every 20 s of each session, transformed once; the
    file and one symbol's stored bar ends."""
    pytest.importorskip("sql.duckdb_backend")
    from conftest import trades_from_parts
    from tests.duckdb_one_pass import transform_in_one_pass

    rng = np.random.default_rng(1)
    parts = []
    for symbol in ("AAPL", "MSFT"):
        ts = np.concatenate([np.arange(FRI_OPEN + NS, FRI_CLOSE, 20 * NS), np.arange(MON_OPEN + NS, MON_CLOSE, 20 * NS)])
        parts.append(("stocks", symbol, ts, 100 * np.exp(np.cumsum(rng.normal(0, 3e-4, ts.size))),
                      np.full(ts.size, 10.0)))
    path = tmp_path_factory.mktemp("recompute") / "tiny.duckdb"
    settings = _settings(duckdb_path=path, bar_seconds=600, lm_window=5, transform_lateness_seconds=0.0)
    transform_in_one_pass(settings, trades_from_parts(parts), now_ns=1).close()
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        ends = [r[0] for r in con.execute("SELECT bar_end_ns FROM trading_signals WHERE symbol = 'AAPL' "
                                          "ORDER BY bar_end_ns").fetchall()]
    return path, ends


def test_on_a_real_file_since_keeps_the_bars_before_the_session_and_rewinds_the_state_to_the_last(
        tiny: tuple[Path, list[int]], tmp_path: Path) -> None:
    import shutil

    import duckdb

    from sql.duckdb_backend import DuckDBStorage

    source, ends = tiny
    path = tmp_path / "copy.duckdb"
    shutil.copy(source, path)
    settings = _settings(duckdb_path=path, bar_seconds=600, lm_window=5, transform_lateness_seconds=0.0)
    storage = DuckDBStorage.open(settings)
    try:
        assert prepare_recompute(storage, settings, ["AAPL"], _ns("2024-03-11T15:00")) == ["AAPL"]
    finally:
        storage.close()
    with duckdb.connect(str(path), read_only=True) as con:
        kept = [r[0] for r in con.execute("SELECT bar_end_ns FROM trading_signals WHERE symbol = 'AAPL' "
                                          "ORDER BY bar_end_ns").fetchall()]
        state = con.execute("SELECT symbol, last_bar_end_ns FROM signal_state ORDER BY symbol").fetchall()
        msft = con.execute("SELECT count(*) FROM trading_signals WHERE symbol = 'MSFT'").fetchone()[0]
    assert kept == [e for e in ends if e <= MON_OPEN] and FRI_CLOSE in kept and len(kept) < len(ends)
    assert state[0] == ("AAPL", FRI_CLOSE) and state[1][0] == "MSFT" and state[1][1] == ends[-1]
    assert msft == len(ends)
    assert pa.array(kept).type == pa.int64()
