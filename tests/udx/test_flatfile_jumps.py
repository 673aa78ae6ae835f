"""A Polygon ``trades_v1`` flat file of four sessions, replayed and transformed by the real CLI, finds the
jumps injected into it, and nothing across the overnight gaps.

The file is generated here from numpy (fixed seed): three stocks, four regular sessions (09:30-16:00
America/New_York; Thursday and Friday in EST, then Monday and Tuesday after the switch to EDT), sparse
pre-market and after-hours prints, prices on the cent grid that follow a Brownian motion with a constant
one-minute standard deviation ``sigma`` (annual volatility / sqrt(252 * 390)), plus

* level shifts ("jumps") of 10 to 13 ``sigma`` at known bars, both signs, two or three per session, one in the
  first bars of a later session (so its Lee-Mykland window is history from the previous sessions);
* an overnight gap of 4 to 6 % (30 to 75 ``sigma``) before one session of each stock, which must not be
  flagged: overnight returns never enter a statistic.

Then, as a user would: ``microstructure replay FILE`` (no Kafka: straight into a fresh DuckDB file) and
``microstructure transform --once`` with default settings, and the assertions read ``trading_signals`` and
the ``jump_events`` view. The false-positive bound comes from the LM significance level: the threshold
``C_n + S_n beta*`` with ``n`` = bars per session is the (Gumbel, asymptotic) level-alpha critical value of
the maximum of ``n`` null statistics (spec/signals.md §2.1, §2.4), so over ``N`` null bars the expected
number of false flags is about ``alpha * N / n``; the test allows the 1 - 1e-4 quantile of a Poisson count
with that mean (here 3 for a mean of 0.095).
"""

from __future__ import annotations

import datetime as dt
import gzip
import math
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from scipy import stats

from sql.settings import Settings

pytestmark = [pytest.mark.duckdb, pytest.mark.e2e]

NS = 1_000_000_000
BAR_NS = 60 * NS
BARS = 390  # one-minute bars in 09:30-16:00
NY = ZoneInfo("America/New_York")
DAYS = (dt.date(2024, 3, 7), dt.date(2024, 3, 8), dt.date(2024, 3, 11), dt.date(2024, 3, 12))
RATE = 0.25  # regular-session trades per second and symbol (15 a minute)
EXT_RATE = 0.02  # pre-market (08:00-09:30) and after-hours (16:00-17:00) trades per second
ALPHA = Settings.model_fields["lm_alpha"].default  # the default the CLI runs with
LM_WINDOW = math.ceil(math.sqrt(252 * BARS))  # spec §2.2 default K = 314
SEED = 20240307
HEADER = ("ticker,conditions,correction,exchange,id,participant_timestamp,price,sequence_number,"
          "sip_timestamp,size,tape,trf_id,trf_timestamp")
EXCHANGES = np.array([4, 8, 10, 11, 12, 15, 19, 21])
EXCHANGE_WEIGHTS = np.array([0.30, 0.04, 0.10, 0.10, 0.22, 0.08, 0.08, 0.08])
SIZES = np.array([1, 5, 10, 25, 50, 100, 100, 100, 100, 200, 300, 500])


@dataclass(frozen=True)
class Stock:
    """One simulated stock: start price, annual volatility, tape, overnight gap and injected jumps."""

    ticker: str
    price: float
    annual_vol: float
    tape: int
    gap_session: int  # the session that opens with ``gap`` (log) away from the previous evening
    gap: float
    jumps: tuple[tuple[int, int, float], ...]  # (session, bar, size in units of sigma)

    @property
    def sigma(self) -> float:
        """Standard deviation of a one-minute log return."""
        return self.annual_vol / math.sqrt(252 * BARS)


STOCKS = (
    Stock("AAPL", 171.30, 0.25, 3, 1, math.log(1.06), (
        (0, 332, +11), (0, 371, -12),
        (1, 45, -10), (1, 210, +13), (1, 352, -11),
        (2, 1, +12), (2, 150, -13), (2, 300, +10),
        (3, 88, -12), (3, 241, +11), (3, 384, -10))),
    Stock("MSFT", 407.60, 0.22, 3, 3, math.log(1.04), (
        (0, 318, -12), (0, 360, +10),
        (1, 77, +11), (1, 233, -12), (1, 330, +13),
        (2, 0, -12), (2, 121, +11), (2, 275, -10),
        (3, 60, +13), (3, 199, -11), (3, 347, +12))),
    Stock("XOM", 104.85, 0.28, 1, 2, math.log(0.95), (
        (0, 340, +13), (0, 380, -11),
        (1, 19, -12), (1, 166, +10), (1, 290, -13),
        (2, 96, +12), (2, 228, -10), (2, 361, +11),
        (3, 2, -11), (3, 133, +12), (3, 259, -12))),
)


def _session(day: dt.date) -> tuple[int, int]:
    """``(open_ns, close_ns)`` of the regular session of ``day``, computed independently of ``udx``."""
    def at(hour: int, minute: int) -> int:
        return int(dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=NY).timestamp()) * NS
    return at(9, 30), at(16, 0)


SESSIONS = [_session(d) for d in DAYS]


@dataclass
class Truth:
    """What the file holds for one stock: regular-session trades per session and the jump bars."""

    trades: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # (ts_ns, price) per session
    jump_bars: dict[int, float] = field(default_factory=dict)  # bar_end_ns -> signed size in sigma


def _arrivals(rng: np.random.Generator, start_ns: int, end_ns: int, rate: float) -> np.ndarray:
    n = rng.poisson(rate * (end_ns - start_ns) / NS)
    return np.sort(rng.integers(start_ns + 1, end_ns, n, dtype=np.int64))


def _stock_days(rng: np.random.Generator, stock: Stock, truth: Truth) -> list[list[str]]:
    """CSV lines of one stock, one list per day, each in time order."""
    sigma_per_s = stock.sigma / math.sqrt(60.0)
    x_evening = math.log(stock.price)
    days: list[list[str]] = []
    first_id = 71_000_000 * (STOCKS.index(stock) + 1)
    for s, (open_ns, close_ns) in enumerate(SESSIONS):
        opening = open_ns + int(rng.uniform(0.01, 0.5) * NS)  # the opening print
        ts = np.concatenate((_arrivals(rng, open_ns - 90 * BAR_NS, open_ns, EXT_RATE), [opening],
                             _arrivals(rng, opening, close_ns, RATE),
                             _arrivals(rng, close_ns, close_ns + 60 * BAR_NS, EXT_RATE)))
        assert np.all(np.diff(ts) > 0), "trade times must be distinct"
        overnight = rng.normal(0.0, 0.004) if s else 0.0
        gap = stock.gap if s == stock.gap_session else 0.0
        dt_s = np.diff(ts, prepend=ts[0]) / NS
        steps = rng.normal(0.0, 1.0, ts.size) * sigma_per_s * np.sqrt(dt_s)
        x = x_evening + overnight + gap + np.cumsum(steps)
        for session, bar, size in stock.jumps:
            if session != s:
                continue
            bar_start = open_ns + bar * BAR_NS
            tau = bar_start + int(rng.uniform(10.0 if bar == 0 else 1.0, 20.0) * NS)
            # the jump must show in its own bar: at least one trade after it before the bar ends
            assert np.any((ts > tau) & (ts < bar_start + BAR_NS)), (stock.ticker, s, bar)
            x[ts >= tau] += size * stock.sigma
            truth.jump_bars[bar_start + BAR_NS] = size
        x_evening = float(x[-1])
        price = np.round(np.exp(x), 2)
        regular = (ts >= open_ns) & (ts < close_ns)
        exchange = rng.choice(EXCHANGES, ts.size, p=EXCHANGE_WEIGHTS)
        size = rng.choice(SIZES, ts.size)
        odd = size < 100
        # odd lots (37) count in volume but never set the last-sale price (Polygon's consolidated rules)
        truth.trades.append((ts[regular], price[regular], ~odd[regular]))

        # Form T (12) outside the session, odd lot (37); a list of several is quoted, as in Polygon's files
        conditions = np.where(regular, np.where(odd, "37", ""), np.where(odd, '"12,37"', "12"))
        trf = exchange == 4  # FINRA TRF reports carry the TRF id and the TRF time
        columns = [np.full(ts.size, stock.ticker), conditions, np.zeros(ts.size, np.int64), exchange,
                   first_id + s * 1_000_000 + np.arange(ts.size),  # id
                   ts - rng.integers(20_000, 2_000_000, ts.size),  # participant_timestamp
                   price,
                   1_000 + np.cumsum(rng.integers(1, 40, ts.size)),  # sequence_number: increasing, daily
                   ts, size, np.full(ts.size, stock.tape),
                   np.where(trf, 202, 0), np.where(trf, ts - 150_000, 0)]  # trf_id, trf_timestamp
        text = [pc.cast(pa.array(c), pa.string()) for c in columns]
        days.append(pc.binary_join_element_wise(*text, ",").to_pylist())
    return days


def write_flat_file(path: Path) -> tuple[dict[str, Truth], int]:
    """Write the four sessions as one ``trades_v1`` CSV (gzip): per day, sorted by ticker, then time."""
    rng = np.random.default_rng(SEED)
    truths = {stock.ticker: Truth() for stock in STOCKS}
    per_stock = [_stock_days(rng, stock, truths[stock.ticker]) for stock in STOCKS]
    lines = [HEADER]
    for day in range(len(DAYS)):
        for stock_days in per_stock:
            lines.extend(stock_days[day])
    with gzip.open(path, "wt", compresslevel=1, encoding="utf-8", newline="") as out:
        out.write("\n".join(lines) + "\n")
    return truths, len(lines) - 1


def _cli_env(db: Path) -> dict[str, str]:
    """The caller's environment without any setting of this project, plus the DuckDB file and no Kafka."""
    fields = {name.upper() for name in Settings.model_fields}
    env = {k: v for k, v in os.environ.items() if k.upper() not in fields}
    env.update({"DUCKDB_PATH": str(db), "KAFKA_BOOTSTRAP_SERVERS": ""})
    return env


def _cli(cwd: Path, db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("microstructure")
    done = subprocess.run([str(exe), *args], cwd=cwd, env=_cli_env(db), capture_output=True, text=True,
                          timeout=240)
    assert done.returncode == 0, f"microstructure {' '.join(args)} exited {done.returncode}:\n{done.stderr}"
    return done


@dataclass
class Run:
    """The module's one replay: what the file holds, its row count, the database and the work directory."""

    truths: dict[str, Truth]
    rows_in_file: int
    db: Path
    tmp: Path


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The file replayed into a fresh DuckDB file and transformed once by the CLI."""
    tmp = tmp_path_factory.mktemp("flatfile")
    flat = tmp / "2024-03-07_2024-03-12.csv.gz"
    truths, n_rows = write_flat_file(flat)
    db = tmp / "replay.duckdb"
    _cli(tmp, db, "replay", str(flat))
    _cli(tmp, db, "transform", "--once")
    return Run(truths, n_rows, db, tmp)


def _query(db: Path, sql: str, *params: object) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, list(params)).fetchall()


def _signals(db: Path, ticker: str) -> dict[str, np.ndarray]:
    names = ("bar_end_ns", "n_trades", "close", "log_return", "lee_mykland_stat", "jump_threshold",
             "jump_detected")
    rows = _query(db, f"SELECT {', '.join(names)} FROM trading_signals WHERE symbol = ? AND bar_seconds = 60 "
                      "ORDER BY bar_end_ns", ticker)
    cols = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    out = {n: np.array(c) for n, c in zip(names, cols, strict=True)}
    for n in ("log_return", "lee_mykland_stat", "jump_threshold"):
        out[n] = np.array([np.nan if v is None else v for v in out[n]], dtype=np.float64)
    return out


def test_every_trade_of_the_file_is_replayed(run: Run) -> None:
    (count,) = _query(run.db, "SELECT count(*) FROM market_data")[0]
    assert count == run.rows_in_file


def test_bars_cover_every_session_and_nothing_in_between(run: Run) -> None:
    """390 bars per session per stock on the 09:30 grid (EST and EDT), with the file's trades and closes."""
    for stock in STOCKS:
        got = _signals(run.db, stock.ticker)
        expected_ends = np.concatenate([o + BAR_NS * np.arange(1, BARS + 1) for o, _ in SESSIONS])
        np.testing.assert_array_equal(got["bar_end_ns"], expected_ends, err_msg=stock.ticker)
        n_trades, closes = [], []
        for (open_ns, _), (ts, price, sets) in zip(SESSIONS, run.truths[stock.ticker].trades, strict=True):
            k = (ts - open_ns) // BAR_NS
            n_trades.append(np.bincount(k, minlength=BARS))
            kp, pp = k[sets], price[sets]
            last = np.searchsorted(kp, np.arange(BARS), side="right") - 1  # last round lot of each bar
            closes.append(pp[np.maximum.accumulate(last)])
        np.testing.assert_array_equal(got["n_trades"], np.concatenate(n_trades), err_msg=stock.ticker)
        np.testing.assert_array_equal(got["close"], np.concatenate(closes), err_msg=stock.ticker)


def test_overnight_gaps_are_not_returns_and_are_not_flagged(run: Run) -> None:
    for stock in STOCKS:
        got = _signals(run.db, stock.ticker)
        for s, (ts, price, sets) in enumerate(run.truths[stock.ticker].trades):
            first = s * BARS
            if s:  # the first bar of a session starts at its opening print, not at the previous close
                overnight = math.log(got["close"][first] / got["close"][first - 1])
                since_open = math.log(got["close"][first] / price[sets][0])
                r = got["log_return"][first]
                assert math.isnan(r) or abs(r - since_open) < 1e-12, (stock.ticker, s, r, since_open,
                                                                      overnight)
            jumps = run.truths[stock.ticker].jump_bars
            early = [i for i in range(first, first + 3) if int(got["bar_end_ns"][i]) not in jumps]
            assert not got["jump_detected"][early].any(), (stock.ticker, s)
        # no return anywhere carries a gap of 4 to 6 %: the largest jump is 13 sigma (< 1.2 %)
        assert np.nanmax(np.abs(got["log_return"])) < abs(stock.gap) / 2, stock.ticker


def test_lee_mykland_window_spans_sessions(run: Run) -> None:
    """Only the first K bars of each stock lack a statistic: later sessions test from their first bar."""
    for stock in STOCKS:
        got = _signals(run.db, stock.ticker)
        undefined = np.flatnonzero(np.isnan(got["lee_mykland_stat"]))
        np.testing.assert_array_equal(undefined, np.arange(LM_WINDOW), err_msg=stock.ticker)
        # the threshold at n = 390 bars per session, alpha = 0.01 (spec §2.4 table)
        np.testing.assert_allclose(got["jump_threshold"], 4.361799, rtol=0, atol=5e-7)


def test_every_injected_jump_is_found_with_its_sign(run: Run) -> None:
    events = {(s, int(e)): (d, float(stat)) for s, e, d, stat in _query(
        run.db, "SELECT symbol, bar_end_ns, direction, lee_mykland_stat FROM jump_events")}
    missed = []
    for stock in STOCKS:
        got = _signals(run.db, stock.ticker)
        index = {int(e): i for i, e in enumerate(got["bar_end_ns"])}
        for end, size in run.truths[stock.ticker].jump_bars.items():
            i = index[end]
            stat, ret = got["lee_mykland_stat"][i], got["log_return"][i]
            event = events.get((stock.ticker, end))
            ok = (bool(got["jump_detected"][i]) and np.sign(stat) == np.sign(size) == np.sign(ret)
                  and event == ("up" if size > 0 else "down", stat))
            if not ok:
                missed.append((stock.ticker, end, size, stat, ret, event))
    assert not missed, f"injected jumps not flagged at their bar with their sign: {missed}"
    assert sum(len(t.jump_bars) for t in run.truths.values()) == 33


def test_false_positives_stay_within_what_alpha_allows(run: Run) -> None:
    """Flags on bars without a jump: at most the 1 - 1e-4 Poisson quantile of alpha · null bars / n."""
    flagged = {(s, int(e)) for s, e in _query(run.db, "SELECT symbol, bar_end_ns FROM jump_events")}
    injected = {(t, e) for t, truth in run.truths.items() for e in truth.jump_bars}
    (tested,) = _query(run.db, "SELECT count(*) FROM trading_signals WHERE lee_mykland_stat IS NOT NULL")[0]
    null_bars = tested - len(injected)
    expected = ALPHA * null_bars / BARS
    allowed = int(stats.poisson.ppf(1 - 1e-4, expected))
    false = sorted(flagged - injected)
    assert len(false) <= allowed, (f"{len(false)} false positives on {null_bars} null bars (alpha = {ALPHA}: "
                                   f"expected {expected:.3f}, allowed {allowed}): {false}")


def test_a_second_transform_adds_nothing(run: Run) -> None:
    tables = ("trading_signals", "model_params", "signal_state")
    before = {t: _query(run.db, f"SELECT * FROM {t} ORDER BY ALL") for t in tables}
    _cli(run.tmp, run.db, "transform", "--once")
    after = {t: _query(run.db, f"SELECT * FROM {t} ORDER BY ALL") for t in tables}
    for t in tables:
        assert len(after[t]) == len(before[t]), t
        assert repr(after[t]) == repr(before[t]), t  # repr: NaN fields compare equal
