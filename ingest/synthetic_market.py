"""A deterministic synthetic market that looks like one: the data model behind the Polygon simulator.

Each symbol is simulated independently from its own random stream (``seed``, symbol index), so adding a
symbol never changes the others. Four stylized facts are built in, each from a small, documented model:

*Volatility clustering.* Per UTC minute ``m`` the log-variance follows a stationary AR(1),
``h_m = φ h_{m-1} + sqrt(1 - φ²) s ε_m`` (``φ = 0.985``, ``s = 0.7``: a half-life of ~45 minutes), and the
diffusive variance of that minute is ``σ_m² = σ_base² · u(minute of day) · exp(h_m) / E[exp(h)]``. The path
of ``h`` over UTC day ``d`` is a pure function of (seed, symbol, day): it is run from a stationary draw over
day ``d-1``'s shocks first (``φ^1440 ≈ 0``), so days join continuously and any time range is reproducible.
``clustering=False`` sets ``h ≡ 0``: only the intraday shape is left.

*Intraday pattern.* Trade intensity and variance are U-shaped over the UTC day (the demo runs 24-hour
sessions): ``u(x) = a + b (2x - 1)²`` with ``x`` the fraction of the UTC day elapsed, mean 1 over the day,
about 3× busier at midnight UTC than at noon UTC. Intensity also rises with the variance (``exp(κ h)``).

*Bursts.* Trade arrivals are a Hawkes process with an exponential kernel, simulated as a cluster process:
immigrants arrive as a non-homogeneous Poisson process, every trade begets ``Poisson(η)`` children after
``Exp(τ)`` delays (``η = 0.55``, ``τ = 0.8 s``), generation by generation, vectorized with numpy. Children
that fall past the end of a chunk are carried to the next one.

*Jumps.* Every UTC day each symbol gets ``1 + Poisson(1)`` jumps at uniform times (mean 2 a day), of size
``U(12, 20) · max(σ_m, σ_base)`` in log-price with a random sign: far beyond 10 one-minute standard
deviations. ``jumps_per_day`` replaces the count by ``Poisson(jumps_per_day)`` (0: none), and
:meth:`SyntheticMarket.inject_jump` adds a jump of a chosen size in local one-minute sigmas;
:meth:`SyntheticMarket.jumps` is the truth.

Prices: the efficient log-price moves by ``σ_m · sqrt(Δt / 60 s) · z`` between trades plus the jumps. Each
trade is preceded by the prevailing quote (``bid = floor(mid/tick - k/2)·tick``, ``ask = bid + k·tick`` with
a spread of ``k`` ticks drawn per quote) and prints at the ask (buyer-initiated), the bid (seller-initiated)
or, sometimes, inside the spread; the side leans towards the sign of the efficient-price move, so order
flow carries information (VPIN has something to see). All prices are on the 0.01 grid (average-price bad
prints excepted, below).

*Session mode.* With ``session_bounds`` (a callable ``(start_ns, end_ns) -> (open_ns, close_ns)`` arrays,
e.g. ``functools.partial(udx.session_bounds, "09:30-16:00 America/New_York")``) trades and quotes happen
only inside sessions, and the 24-hour ``u`` gives way to two session shapes of ``x``, the minutes since the
open divided by the full session length ``L`` (``full_session_minutes``, 390)::

    variance   v(x) ∝ 0.72 + 5.04 exp(-x / 0.046) + 1.15 exp(-(1 - x) / 0.040)
    intensity  w(x) ∝ 0.65 + 1.35 exp(-x / 0.190) + 1.54 exp(-(1 - x) / 0.060)

each divided by its mean over the ``L`` minute midpoints, so both average 1 over a full session. The
volatility multiplier ``sqrt(v)`` (relative to the session's root-mean-square) is about ×2.4 at the open,
×0.85 at midday and ×1.37 at the close; the trade rate about ×2.0, ×0.75 and ×2.2 of its session mean. The
variance excess at the open fades within ~20 minutes, the intensity's within ~75. ``daily_vol`` is then the
standard deviation of a full session's log return (``σ_base = daily_vol / sqrt(L)``). A shorter session (a
13:00 half-day) simply closes early: same shapes by time since the open, no close ramp. Between sessions
the price does not diffuse; each session after the first opens with an overnight gap
``N(0, (0.5 · daily_vol)²)``. Jumps are drawn per session (uniform inside it). :meth:`advance` follows the
sessions too (nothing happens outside them).

*Thin symbols.* ``SymbolSpec.trades_per_minute`` fixes a symbol's mean trades per minute (over a session in
session mode, over the day otherwise) instead of its ``weight`` share of ``rate``; ``rate`` is shared by the
other symbols only.

*Bad prints* (stocks, ``bad_print_rate``): that fraction of prints, chosen at random, are replaced by prints
that must not set the last sale (polygon notes §5), with the mix :data:`BAD_PRINT_MIX`:

- average-price trades, condition ``2``, priced at the VWAP of the regular prints of the last 10–120 minutes
  (uniform), rounded to 0.0001;
- prior-reference-price (``22``) and sold-out-of-sequence (``33``) prints, priced at the last regular print
  2 minutes to 4 hours earlier (log-uniform delay);
- erroneous prints, 2–10 % off the quote midpoint (either side), on the cent grid, with the ordinary
  conditions and ``correction = ERRONEOUS_CORRECTION``. ``history`` only: live ``advance`` has no correction
  field, so there the mix is the first three kinds alone.

Odd-lot bad prints also carry ``37`` (``"22,37"``). Bad prints keep the replaced trade's size, id and
sequence. The stale prices come from the prints remembered so far (the current chunk plus up to
:data:`BAD_MEMORY_PRINTS` earlier regular prints of the last 4 hours), so right after the start a print may
be less stale than drawn. Truth: :meth:`SyntheticMarket.bad_prints`; in the tables a print is bad iff its
``conditions`` contain 2, 22 or 33 or its ``correction`` is non-zero (the latter needs the ``correction``
column of ``TRADES_SCHEMA``; without it erroneous prints are known only from :meth:`bad_prints`).

*Quote dynamics* (``quote_dynamics=True``; off by default, so the default market and its tests are unchanged).
Quotes come from their own random stream (the trade stream is drawn exactly as without them) and follow the
project's timing convention (:mod:`udx.nbbo`: a trade's prevailing quote is the newest stamped strictly before
it):

- the spread in ticks is ``k · w`` rounded, ``w = 1 + 2 exp(-τ_open / 10 min) + 3 exp(-|t - t_jump| / 30 s)``
  (``τ_open`` the time since the session open, or since UTC midnight in 24-hour mode; ``t_jump`` the nearest
  jump): about 3× wider at the open and 4× around a jump;
- each trade's quote is stamped 1–2 ms before it (never before the previous trade, so two trades in one
  millisecond share the earlier quote); a trade that took the ask (bid) is followed, half the time, by a quote
  at the trade's own millisecond with the ask one tick higher (bid one tick lower): the update a trade
  triggers, which an "at or before" join would wrongly use;
- 0.5 % of the quotes are published locked (ask = bid) and 0.5 % crossed (ask one tick below the bid); the
  trade still prints against the true book.

Truth for tests (``record_truth=True``): :meth:`SyntheticMarket.trade_truth`, per trade its aggressor side,
the efficient (true) mid, the book it printed against and the quote published before it.

Two ways to consume it: :meth:`SyntheticMarket.history` writes ``TRADES_SCHEMA`` / ``QUOTES_SCHEMA`` tables
directly (fast backfill; same seed and range ⇒ identical tables) and :meth:`SyntheticMarket.advance` returns
Polygon events (``T``/``Q``/``XT``/``XQ`` with the real field names) up to a wall-clock time, continuing from
where the history ended: the same price path, trade-id and sequence counters carry on, so history and live
trades never share a dedupe key. Timestamps are whole milliseconds, as the WebSocket feed delivers them.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.signal import lfilter

from ingest.sim_events import TRF_ID, EventBatch, encode_chunks
from sql.contract import QUOTES_SCHEMA, TRADES_SCHEMA

__all__ = [
    "BAD_PRINT_MIX",
    "DEFAULT_SYMBOLS",
    "ERRONEOUS_CORRECTION",
    "THIN_SYMBOLS",
    "SessionBounds",
    "SymbolSpec",
    "SyntheticMarket",
    "session_intensity",
    "session_variance",
]

NS_PER_S = 1_000_000_000
NS_PER_MIN = 60 * NS_PER_S
NS_PER_DAY = 86_400 * NS_PER_S
MIN_PER_DAY = 1440

# Model constants (module docstring).
PHI, H_SD = 0.985, 0.7
KAPPA = 0.25  # intensity ∝ exp(KAPPA · h)
ETA, TAU_S = 0.55, 0.8  # Hawkes branching ratio and mean child delay
U_A, U_B = 0.6, 1.2  # u(x) = U_A + U_B (2x-1)^2, mean U_A + U_B/3 = 1
JUMP_LOW, JUMP_HIGH = 12.0, 20.0
# Session shapes: (midday level, open excess, open decay, close excess, close decay), decays in units of L.
VARIANCE_SHAPE = (0.72, 5.04, 0.046, 1.15, 0.040)
INTENSITY_SHAPE = (0.65, 1.35, 0.190, 1.54, 0.060)
FULL_SESSION_MINUTES = 390
OVERNIGHT_VOL = 0.5  # sd of the close-to-open gap in units of daily_vol
#: ``correction`` of an erroneous print (flat files); to be aligned with Polygon's documented codes.
ERRONEOUS_CORRECTION = 8
#: Shares of the bad-print kinds: average price (2), prior reference (22), out of sequence (33), erroneous.
BAD_PRINT_MIX = (0.4, 0.2, 0.2, 0.2)
#: Earlier regular prints remembered per symbol for stale prices (besides the chunk being simulated).
BAD_MEMORY_PRINTS = 20_000
_BAD_MEMORY_NS = 4 * 60 * NS_PER_MIN
_AVG_WINDOW_MIN = (10.0, 120.0)
_STALE_DELAY_MIN = (2.0, 240.0)
_ERRONEOUS_OFF = (0.02, 0.10)
_KIND_NAMES = ("regular", "average_price", "prior_reference", "out_of_sequence", "erroneous")
# conditions string by 2 · kind + odd lot
_CONDITION_STRINGS = pa.array(
    [None, "37", "2", "2,37", "22", "22,37", "33", "33,37", None, "37"], pa.string()
)
#: A wall-clock gap longer than this between two live ``advance`` calls is skipped, not back-filled.
MAX_LIVE_GAP_NS = 2 * NS_PER_S
_STOCK_EXCHANGES = np.array([4, 8, 10, 11, 12, 15, 19, 21], dtype=np.int32)
_STOCK_EX_WEIGHTS = np.array([0.30, 0.04, 0.10, 0.10, 0.22, 0.08, 0.08, 0.08])
_CRYPTO_EXCHANGES = np.array([1, 2, 6, 10], dtype=np.int32)
_CRYPTO_EX_WEIGHTS = np.array([0.55, 0.15, 0.15, 0.15])

# Quote dynamics (module docstring): spread widening at the open and around jumps, locked/crossed shares,
# the chance of a post-trade quote update.
OPEN_WIDEN, OPEN_WIDEN_MIN = 2.0, 10.0
JUMP_WIDEN, JUMP_WIDEN_S = 3.0, 30.0
LOCKED_SHARE, CROSSED_SHARE = 0.005, 0.005
POST_TRADE_QUOTE = 0.5
_QUOTE_KINDS = ("normal", "locked", "crossed")

#: ``(start_ns, end_ns) -> (open_ns, close_ns)`` of the sessions overlapping the range, like
#: ``udx.session_bounds`` with its session fixed.
SessionBounds = Callable[[int, int], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """One simulated instrument.

    ``daily_vol`` is the standard deviation of a 24-hour log return (of a full session's in session mode);
    ``weight`` its share of the trades; ``max_spread_ticks`` the widest quoted spread in ticks;
    ``trades_per_minute``, when set, its own mean trade rate (over a session in session mode, over the day
    otherwise) in place of the ``weight`` share of the market's ``rate``.
    """

    symbol: str
    market: str
    price: float
    daily_vol: float
    weight: float
    max_spread_ticks: int
    tape: int | None = None
    trades_per_minute: float | None = None


DEFAULT_SYMBOLS: tuple[SymbolSpec, ...] = (
    SymbolSpec("AAPL", "stocks", 190.0, 0.016, 0.14, 2, 3),
    SymbolSpec("MSFT", "stocks", 420.0, 0.014, 0.10, 3, 3),
    SymbolSpec("NVDA", "stocks", 120.0, 0.030, 0.16, 2, 3),
    SymbolSpec("TSLA", "stocks", 250.0, 0.035, 0.14, 4, 3),
    SymbolSpec("SPY", "stocks", 540.0, 0.010, 0.16, 1, 2),
    SymbolSpec("AMZN", "stocks", 185.0, 0.020, 0.08, 2, 3),
    SymbolSpec("GOOGL", "stocks", 170.0, 0.018, 0.07, 2, 3),
    SymbolSpec("BTC-USD", "crypto", 65_000.0, 0.030, 0.10, 8, None),
    SymbolSpec("ETH-USD", "crypto", 3_400.0, 0.040, 0.05, 4, None),
)

#: Thin stocks to add to a market (``DEFAULT_SYMBOLS + THIN_SYMBOLS``): a few trades a minute or less,
#: wide spreads. Not in :data:`DEFAULT_SYMBOLS`, whose symbol set the demo and its tests pin.
THIN_SYMBOLS: tuple[SymbolSpec, ...] = (
    SymbolSpec("THNX", "stocks", 24.0, 0.030, 0.0, 6, 1, trades_per_minute=0.5),
    SymbolSpec("RARE", "stocks", 8.5, 0.045, 0.0, 10, 3, trades_per_minute=0.2),
)


def intraday_u(x: np.ndarray) -> np.ndarray:
    """U-shaped intraday factor over the fraction ``x`` of the UTC day; mean 1 over ``[0, 1)``."""
    return U_A + U_B * (2.0 * x - 1.0) ** 2


def _shape(params: tuple[float, float, float, float, float], x: np.ndarray) -> np.ndarray:
    mid, open_, tau_open, close, tau_close = params
    return mid + open_ * np.exp(-x / tau_open) + close * np.exp(-(1.0 - x) / tau_close)


@functools.lru_cache(maxsize=64)
def _shape_means(minutes: float) -> tuple[float, float]:
    x = (np.arange(math.ceil(minutes)) + 0.5) / minutes
    return float(_shape(VARIANCE_SHAPE, x).mean()), float(_shape(INTENSITY_SHAPE, x).mean())


def session_variance(x: np.ndarray, minutes: float = FULL_SESSION_MINUTES) -> np.ndarray:
    """Variance multiplier ``v(x)`` at the fraction ``x`` of a full session of ``minutes`` minutes elapsed.

    ``v = VARIANCE_SHAPE(x) / mean``, the mean taken over the minute midpoints ``(k + 1/2) / minutes``, so a
    full session averages 1: ``sqrt(v)`` ≈ 2.4 at the open, 0.85 at midday, 1.37 at the close.
    """
    return _shape(VARIANCE_SHAPE, np.asarray(x, np.float64)) / _shape_means(float(minutes))[0]


def session_intensity(x: np.ndarray, minutes: float = FULL_SESSION_MINUTES) -> np.ndarray:
    """Trade-intensity multiplier ``w(x)``, normalised like :func:`session_variance`: ≈ 2.0, 0.75, 2.2."""
    return _shape(INTENSITY_SHAPE, np.asarray(x, np.float64)) / _shape_means(float(minutes))[1]


@dataclass(frozen=True, slots=True)
class _Segment:
    """A stretch ``[a_ns, b_ns)`` simulated in one go: part of a UTC day, or of one session."""

    a_ns: int
    b_ns: int
    open_ns: int | None = None  # None: 24-hour mode
    close_ns: int = 0
    length_min: float = 0.0  # the shape's full session length


@dataclass(slots=True)
class _Chunk:
    """Columnar output of one symbol over one time range (one quote per trade, quote first)."""

    ts_ns: np.ndarray  # int64, whole ms in ns
    quote_ts_ns: np.ndarray
    price: np.ndarray
    size: np.ndarray
    exchange: np.ndarray
    trade_id: np.ndarray  # int64 counter
    seq: np.ndarray  # trade sequence; the quote's is seq - 1
    side: np.ndarray  # +1 buyer-initiated, -1 seller-initiated
    odd_lot: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    bid_size: np.ndarray
    ask_size: np.ndarray
    bid_ex: np.ndarray
    ask_ex: np.ndarray
    latency_ns: np.ndarray
    kind: np.ndarray | None = None  # int8 index into _KIND_NAMES; None: all regular
    true_mid: np.ndarray | None = None  # the efficient price
    at_quote: np.ndarray | None = None  # printed at the book's bid or ask (not inside the spread)
    # quote dynamics: the published pre-trade quote (bid/ask above are the book the trade printed against),
    # its kind (index into _QUOTE_KINDS), the post-trade quote (NaN: none)
    quote_bid: np.ndarray | None = None
    quote_ask: np.ndarray | None = None
    quote_kind: np.ndarray | None = None
    post_bid: np.ndarray | None = None
    post_ask: np.ndarray | None = None


@dataclass(slots=True)
class _SymbolState:
    spec: SymbolSpec
    index: int
    rng: np.random.Generator
    sigma_base: float  # per-minute
    mu_per_s: float  # mean trades per second
    log_price: float
    cursor_ns: int
    last_trade_ns: int
    next_id: int = 1
    pending: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    days: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    h_days: dict[int, np.ndarray] = field(default_factory=dict)
    session_jumps: dict[int, np.ndarray] = field(default_factory=dict)
    last_open_ns: int | None = None
    memory: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # regular prints (ts, price, size)
    jump_log: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # times; size, σ, injected
    bad_log: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)  # (trade ids, kinds)
    quote_rng: np.random.Generator | None = None  # quote dynamics' own stream
    truth_log: list[_Chunk] = field(default_factory=list)


class SyntheticMarket:
    """A seeded, stateful market of several symbols (see the module docstring for the model).

    Parameters
    ----------
    seed
        Seed of every random stream; same seed and same calls ⇒ identical output.
    rate
        Mean trades per second over all symbols together (over session time in session mode), shared by
        ``weight`` among the symbols without ``trades_per_minute``.
    symbols
        The instruments; defaults to :data:`DEFAULT_SYMBOLS`.
    session_bounds
        ``(start_ns, end_ns) -> (open_ns, close_ns)`` of the sessions overlapping a range; None (default):
        24-hour UTC days. ``ingest`` does not import ``udx``: pass e.g.
        ``functools.partial(udx.session_bounds, "09:30-16:00 America/New_York")``.
    full_session_minutes
        Length of a full session in session mode: ``σ_base = daily_vol / sqrt(it)`` and the shapes' ``x``
        is minutes since the open over it. A session longer than this uses its own length.
    clustering
        False: no log-variance process (``h ≡ 0``), only the intraday shape.
    jumps_per_day
        Mean random jumps per symbol and UTC day (per session in session mode), Poisson; None (default):
        ``1 + Poisson(1)``; 0: none.
    bad_print_rate
        Fraction of stock prints that are bad prints (module docstring); 0 by default.
    quote_dynamics
        Spreads that widen at the open and around jumps, post-trade quote updates, locked and crossed quotes
        (module docstring); off by default.
    record_truth
        Keep every trade's truth for :meth:`trade_truth` (memory grows with the trades simulated).
    """

    def __init__(
        self,
        seed: int,
        rate: float,
        symbols: tuple[SymbolSpec, ...] = DEFAULT_SYMBOLS,
        *,
        session_bounds: SessionBounds | None = None,
        full_session_minutes: float = FULL_SESSION_MINUTES,
        clustering: bool = True,
        jumps_per_day: float | None = None,
        bad_print_rate: float = 0.0,
        quote_dynamics: bool = False,
        record_truth: bool = False,
    ) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        for spec in symbols:
            tpm = spec.trades_per_minute
            if tpm is not None and not (math.isfinite(tpm) and tpm > 0):
                raise ValueError(f"trades_per_minute of {spec.symbol} must be positive, got {tpm}")
        if not full_session_minutes >= 1:
            raise ValueError(f"full_session_minutes must be at least 1, got {full_session_minutes}")
        if jumps_per_day is not None and not (math.isfinite(jumps_per_day) and jumps_per_day >= 0):
            raise ValueError(f"jumps_per_day must be None or >= 0, got {jumps_per_day}")
        if not 0.0 <= bad_print_rate < 1.0:
            raise ValueError(f"bad_print_rate must be in [0, 1), got {bad_print_rate}")
        self.seed = seed
        self.rate = float(rate)
        self.symbols = symbols
        self.session_bounds = session_bounds
        self.full_session_minutes = float(full_session_minutes)
        self.clustering = clustering
        self.jumps_per_day = jumps_per_day
        self.bad_print_rate = float(bad_print_rate)
        self.quote_dynamics = quote_dynamics
        self.record_truth = record_truth
        self._injected: dict[str, list[tuple[int, float]]] = {}
        self._states: list[_SymbolState] | None = None

    # --- state -------------------------------------------------------------------------------------------

    def _mu_per_s(self, spec: SymbolSpec, rate: float) -> float:
        if spec.trades_per_minute is not None:
            return spec.trades_per_minute / 60.0
        total_weight = sum(s.weight for s in self.symbols if s.trades_per_minute is None)
        return rate * spec.weight / total_weight

    def _fresh_states(self, start_ns: int, rate: float) -> list[_SymbolState]:
        minutes = MIN_PER_DAY if self.session_bounds is None else self.full_session_minutes
        return [
            _SymbolState(
                spec=spec,
                index=i,
                rng=np.random.default_rng([self.seed, i, 0]),
                sigma_base=spec.daily_vol / np.sqrt(minutes),
                mu_per_s=self._mu_per_s(spec, rate),
                log_price=float(np.log(spec.price)),
                cursor_ns=start_ns,
                last_trade_ns=start_ns,
                quote_rng=np.random.default_rng([self.seed, i, 6]) if self.quote_dynamics else None,
            )
            for i, spec in enumerate(self.symbols)
        ]

    def _day_h(self, st: _SymbolState, day: int) -> np.ndarray:
        """The log-variance ``h`` of the 1440 minutes of UTC ``day`` (zeros without clustering)."""
        if not self.clustering:
            return np.zeros(MIN_PER_DAY)
        cached = st.h_days.get(day)
        if cached is not None:
            return cached
        shocks = [np.random.default_rng([self.seed, st.index, 1, d]).standard_normal(MIN_PER_DAY)
                  for d in (day - 1, day)]
        eps = np.concatenate(shocks) * (np.sqrt(1.0 - PHI * PHI) * H_SD)
        prev = np.random.default_rng([self.seed, st.index, 2, day]).standard_normal() * H_SD
        # h_k = φ h_{k-1} + ε_k from h_{-1} = prev; lfilter does the same float operations as the loop
        h = lfilter([1.0], [1.0, -PHI], eps, zi=[PHI * prev])[0][MIN_PER_DAY:]
        if len(st.h_days) > 4:
            st.h_days.pop(min(st.h_days))
        st.h_days[day] = h
        return h

    def _n_jumps(self, jr: np.random.Generator) -> int:
        if self.jumps_per_day is None:
            return 1 + int(jr.poisson(1.0))
        return int(jr.poisson(self.jumps_per_day)) if self.jumps_per_day > 0 else 0

    def _day_latent(self, st: _SymbolState, day: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """24-hour mode: per-minute ``σ_m`` and intensity factor of UTC ``day``, and its jumps (rows: time,
        size, local σ)."""
        cached = st.days.get(day)
        if cached is not None:
            return cached
        h = self._day_h(st, day)
        u = intraday_u((np.arange(MIN_PER_DAY) + 0.5) / MIN_PER_DAY)
        if self.clustering:
            sigma = st.sigma_base * np.sqrt(u * np.exp(h - H_SD * H_SD / 2.0))
            activity = u * np.exp(KAPPA * h - (KAPPA * H_SD) ** 2 / 2.0)
        else:
            sigma, activity = st.sigma_base * np.sqrt(u), u
        jr = np.random.default_rng([self.seed, st.index, 3, day])
        n_jumps = self._n_jumps(jr)
        j_times = np.sort(jr.integers(0, NS_PER_DAY, n_jumps)) + day * NS_PER_DAY
        j_min = (j_times // NS_PER_MIN) % MIN_PER_DAY
        j_sizes = (jr.uniform(JUMP_LOW, JUMP_HIGH, n_jumps) * np.maximum(sigma[j_min], st.sigma_base)
                   * jr.choice(np.array([-1.0, 1.0]), n_jumps))
        if len(st.days) > 4:
            st.days.pop(min(st.days))
        st.days[day] = (sigma, activity, np.stack([j_times.astype(np.float64), j_sizes, sigma[j_min]]))
        return st.days[day]

    def _minute_arrays(
        self, st: _SymbolState, minutes: np.ndarray, seg: _Segment
    ) -> tuple[np.ndarray, np.ndarray]:
        """``σ`` and activity at absolute UTC minute indices ``minutes`` (of segment ``seg``)."""
        sigma = np.empty(len(minutes))
        activity = np.empty(len(minutes))
        days = minutes // MIN_PER_DAY
        if seg.open_ns is None:
            for day in np.unique(days):
                s, a, _ = self._day_latent(st, int(day))
                sel = days == day
                sigma[sel] = s[minutes[sel] - day * MIN_PER_DAY]
                activity[sel] = a[minutes[sel] - day * MIN_PER_DAY]
            return sigma, activity
        h = np.empty(len(minutes))
        for day in np.unique(days):
            sel = days == day
            h[sel] = self._day_h(st, int(day))[minutes[sel] - day * MIN_PER_DAY]
        x = np.clip(((minutes * NS_PER_MIN - seg.open_ns) / NS_PER_MIN + 0.5) / seg.length_min, 0.0, 1.0)
        v, w = session_variance(x, seg.length_min), session_intensity(x, seg.length_min)
        if self.clustering:
            sigma = st.sigma_base * np.sqrt(v * np.exp(h - H_SD * H_SD / 2.0))
            activity = w * np.exp(KAPPA * h - (KAPPA * H_SD) ** 2 / 2.0)
        else:
            sigma, activity = st.sigma_base * np.sqrt(v), w
        return sigma, activity

    def _session_jumps(self, st: _SymbolState, seg: _Segment) -> np.ndarray:
        """Session mode: the random jumps of ``seg``'s session (rows: time, size, local σ)."""
        assert seg.open_ns is not None
        cached = st.session_jumps.get(seg.open_ns)
        if cached is not None:
            return cached
        jr = np.random.default_rng([self.seed, st.index, 5, seg.open_ns // NS_PER_MIN])
        n_jumps = self._n_jumps(jr)
        j_times = np.sort(jr.integers(seg.open_ns, seg.close_ns, n_jumps))
        sigma, _ = self._minute_arrays(st, j_times // NS_PER_MIN, seg)
        j_sizes = (jr.uniform(JUMP_LOW, JUMP_HIGH, n_jumps) * np.maximum(sigma, st.sigma_base)
                   * jr.choice(np.array([-1.0, 1.0]), n_jumps))
        if len(st.session_jumps) > 4:
            st.session_jumps.pop(min(st.session_jumps))
        st.session_jumps[seg.open_ns] = np.stack([j_times.astype(np.float64), j_sizes, sigma])
        return st.session_jumps[seg.open_ns]

    def _jumps_in(self, st: _SymbolState, seg: _Segment) -> tuple[np.ndarray, np.ndarray]:
        """Jumps in ``[seg.a_ns, seg.b_ns)``, time-ordered: times (int64) and rows size, local σ, injected."""
        a_ns, b_ns = seg.a_ns, seg.b_ns
        if seg.open_ns is None:
            parts = [self._day_latent(st, day)[2]
                     for day in range(a_ns // NS_PER_DAY, (b_ns - 1) // NS_PER_DAY + 1)]
        else:
            parts = [self._session_jumps(st, seg)]
        drawn = np.concatenate(parts, axis=1)
        times = drawn[0].astype(np.int64)  # random jump times live on float64's grid (256 ns today)
        inside = (times >= a_ns) & (times < b_ns)
        times, rows = times[inside], np.vstack([drawn[1:, inside], np.zeros(int(inside.sum()))])
        injected = [(t, s) for t, s in self._injected.get(st.spec.symbol, ()) if a_ns <= t < b_ns]
        if injected:
            at = np.array([t for t, _ in injected], dtype=np.int64)
            local, _ = self._minute_arrays(st, at // NS_PER_MIN, seg)
            extra = np.stack([np.array([s for _, s in injected]) * local, local, np.ones(len(injected))])
            times, rows = np.concatenate([times, at]), np.concatenate([rows, extra], axis=1)
            order = np.argsort(times, kind="stable")
            times, rows = times[order], rows[:, order]
        return times, rows

    # --- arrivals ----------------------------------------------------------------------------------------

    def _arrivals(self, st: _SymbolState, seg: _Segment) -> np.ndarray:
        """Sorted trade times in ``[a_ns, b_ns)``; later descendants go to ``st.pending``."""
        rng, a_ns, b_ns = st.rng, seg.a_ns, seg.b_ns
        if seg.open_ns is None:  # one-second bins
            bin_ns = min(NS_PER_S, b_ns - a_ns)
            edges = np.arange(a_ns, b_ns, bin_ns, dtype=np.int64)
            widths = np.minimum(edges + bin_ns, b_ns) - edges
            minutes = (edges + widths // 2) // NS_PER_MIN
        else:  # minute bins: the activity is constant within a minute
            minutes = np.arange(a_ns // NS_PER_MIN, (b_ns - 1) // NS_PER_MIN + 1, dtype=np.int64)
            edges = np.maximum(minutes * NS_PER_MIN, a_ns)
            widths = np.minimum(minutes * NS_PER_MIN + NS_PER_MIN, b_ns) - edges
        _, activity = self._minute_arrays(st, minutes, seg)
        lam = st.mu_per_s * (1.0 - ETA) * activity * (widths / NS_PER_S)
        counts = rng.poisson(lam)
        offsets = rng.random(int(counts.sum())) * np.repeat(widths, counts)
        immigrants = np.repeat(edges, counts) + offsets.astype(np.int64)
        events = [immigrants]
        parents = immigrants
        while parents.size:
            kids = rng.poisson(ETA, parents.size)
            delays = rng.exponential(TAU_S, int(kids.sum())) * NS_PER_S
            parents = np.repeat(parents, kids) + delays.astype(np.int64)
            events.append(parents)
        fresh = np.sort(np.concatenate(events))  # the carried children are sorted already: merge them in
        times = np.insert(st.pending, np.searchsorted(st.pending, fresh, side="right"), fresh)
        cut = int(np.searchsorted(times, b_ns, side="left"))
        st.pending = times[cut:]
        return times[:cut]

    # --- one chunk ---------------------------------------------------------------------------------------

    def _segments(self, a_ns: int, b_ns: int, *, split_days: bool = True) -> list[_Segment]:
        """``[a_ns, b_ns)`` cut into UTC days (24-hour mode) or intersected with the sessions."""
        if self.session_bounds is None:
            if not split_days:
                return [_Segment(a_ns, b_ns)]
            out = []
            while a_ns < b_ns:
                b = min(b_ns, (a_ns // NS_PER_DAY + 1) * NS_PER_DAY)  # chunks end at UTC midnight
                out.append(_Segment(a_ns, b))
                a_ns = b
            return out
        opens, closes = self.session_bounds(a_ns, b_ns)
        return [
            _Segment(max(a_ns, int(o)), min(b_ns, int(c)), int(o), int(c),
                     max(self.full_session_minutes, (int(c) - int(o)) / NS_PER_MIN))
            for o, c in zip(opens.tolist(), closes.tolist(), strict=True)
            if min(b_ns, int(c)) > max(a_ns, int(o))
        ]

    def _run(self, st: _SymbolState, seg: _Segment, live: bool) -> _Chunk:
        """Simulate ``seg``; in session mode first drop the closed market's carried children, open with the
        overnight gap and stop the clock between sessions."""
        if seg.open_ns is not None:
            st.pending = st.pending[st.pending >= seg.a_ns]
            if st.last_open_ns != seg.open_ns:
                if st.last_open_ns is not None:
                    gap = np.random.default_rng([self.seed, st.index, 4, seg.open_ns // NS_PER_MIN])
                    st.log_price += OVERNIGHT_VOL * st.spec.daily_vol * float(gap.standard_normal())
                st.last_open_ns = seg.open_ns
            st.last_trade_ns = max(st.last_trade_ns, seg.a_ns)
        chunk = self._chunk(st, seg)
        if st.spec.market == "stocks" and self.bad_print_rate > 0:
            self._bad_prints(st, chunk, live)
        if self.record_truth:
            st.truth_log.append(chunk)
        return chunk

    def _chunk(self, st: _SymbolState, seg: _Segment) -> _Chunk:
        rng, spec = st.rng, st.spec
        exact = self._arrivals(st, seg)
        n = exact.size
        ts = exact - exact % 1_000_000  # whole milliseconds, as Polygon's ``t``
        sigma, _ = self._minute_arrays(st, exact // NS_PER_MIN, seg)
        dt_min = np.diff(exact, prepend=st.last_trade_ns) / NS_PER_MIN
        incr = sigma * np.sqrt(np.maximum(dt_min, 0.0)) * rng.standard_normal(n)
        j_times, jumps = self._jumps_in(st, seg)
        st.jump_log.append((j_times, jumps))
        j_sizes = jumps[0]
        log_mid = st.log_price + np.cumsum(incr)
        if j_times.size:
            jumped = np.concatenate([[0.0], np.cumsum(j_sizes)])
            log_mid += jumped[np.searchsorted(j_times, exact, side="right")]
        later_jumps = j_sizes[j_times > (exact[-1] if n else -1)].sum()  # after the chunk's last trade
        st.log_price = float((log_mid[-1] if n else st.log_price) + later_jumps)
        prev_ms_ns = st.last_trade_ns - st.last_trade_ns % 1_000_000
        if n:
            st.last_trade_ns = int(exact[-1])
        mid_ticks = np.exp(log_mid) * 100.0
        spread = rng.integers(1, spec.max_spread_ticks + 1, n)
        if st.quote_rng is not None:
            spread = np.maximum(np.rint(spread * _widening(seg, exact, j_times)), 1.0).astype(np.int64)
        bid_t = np.maximum(np.floor(mid_ticks - spread / 2.0), 1.0)
        ask_t = bid_t + spread
        noise = 0.7 * sigma * np.sqrt(np.maximum(dt_min, 1e-6)) * rng.standard_normal(n)
        side = np.where(incr + noise > 0, 1, -1)
        inside = (spread >= 2) & (rng.random(n) < 0.15)
        price_t = np.where(side > 0, ask_t, bid_t)
        price_t = np.where(inside, bid_t + spread // 2, price_t)
        if spec.market == "stocks":
            lots = rng.random(n) < 0.35
            size = np.where(lots, rng.integers(1, 100, n), 100 * rng.geometric(0.45, n)).astype(np.float64)
            exchange = rng.choice(_STOCK_EXCHANGES, n, p=_STOCK_EX_WEIGHTS)
            bid_size = 100.0 * rng.geometric(0.3, n)
            ask_size = 100.0 * rng.geometric(0.3, n)
            bid_ex = rng.choice(_STOCK_EXCHANGES[1:], n)
            ask_ex = rng.choice(_STOCK_EXCHANGES[1:], n)
            odd_lot = lots
        else:
            scale = 5_000.0 / spec.price  # ~ $5k notional median
            size = np.round(np.maximum(np.exp(rng.normal(0.0, 1.3, n)) * scale * 0.1, 1e-8), 8)
            exchange = rng.choice(_CRYPTO_EXCHANGES, n, p=_CRYPTO_EX_WEIGHTS)
            bid_size = np.round(np.maximum(np.exp(rng.normal(0.0, 1.0, n)) * scale, 1e-8), 8)
            ask_size = np.round(np.maximum(np.exp(rng.normal(0.0, 1.0, n)) * scale, 1e-8), 8)
            bid_ex = ask_ex = exchange
            odd_lot = np.zeros(n, dtype=bool)
        ids = np.arange(st.next_id, st.next_id + n, dtype=np.int64)
        st.next_id += n
        prev_ts = np.concatenate([[prev_ms_ns], ts[:-1]]) if n else ts
        quote_ts = np.maximum(ts - 1_000_000 * rng.integers(0, 3, n), prev_ts)
        chunk = _Chunk(
            ts_ns=ts, quote_ts_ns=quote_ts, price=price_t / 100.0, size=size, exchange=exchange,
            trade_id=ids, seq=2 * ids, side=side, odd_lot=odd_lot, bid=bid_t / 100.0, ask=ask_t / 100.0,
            bid_size=bid_size, ask_size=ask_size,
            bid_ex=bid_ex.astype(np.int32), ask_ex=ask_ex.astype(np.int32),
            latency_ns=rng.integers(2_000_000, 40_000_000, n),
        )
        chunk.true_mid, chunk.at_quote = mid_ticks / 100.0, ~inside
        if st.quote_rng is not None:
            _quote_dynamics(st.quote_rng, chunk, prev_ts, bid_t, ask_t, inside)
        return chunk

    def _bad_prints(self, st: _SymbolState, chunk: _Chunk, live: bool) -> None:
        """Turn a ``bad_print_rate`` share of ``chunk``'s prints into bad prints (module docstring)."""
        rng, n = st.rng, chunk.ts_ns.size
        mix = np.array(BAD_PRINT_MIX[:3] if live else BAD_PRINT_MIX)
        bad = np.flatnonzero(rng.random(n) < self.bad_print_rate)
        kind = np.zeros(n, np.int8)
        kind[bad] = 1 + rng.choice(mix.size, bad.size, p=mix / mix.sum())
        regular = kind == 0
        mem_ts, mem_p, mem_s = st.memory or (np.empty(0, np.int64), np.empty(0), np.empty(0))
        ref_ts = np.concatenate([mem_ts, chunk.ts_ns[regular]])
        ref_p = np.concatenate([mem_p, chunk.price[regular]])
        ref_s = np.concatenate([mem_s, chunk.size[regular]])
        price = chunk.price.copy()
        t = chunk.ts_ns[bad]
        own = chunk.price[bad]
        # the last regular print before t, else the print's own price
        before = np.searchsorted(ref_ts, t, side="left")
        last = np.where(before > 0, ref_p[np.maximum(before - 1, 0)] if ref_ts.size else own, own)
        # average price: VWAP of the regular prints in [t - window, t)
        window = rng.uniform(*_AVG_WINDOW_MIN, bad.size) * NS_PER_MIN
        cum_pv = np.concatenate([[0.0], np.cumsum(ref_p * ref_s)])
        cum_v = np.concatenate([[0.0], np.cumsum(ref_s)])
        lo = np.searchsorted(ref_ts, t - window.astype(np.int64), side="left")
        vol = cum_v[before] - cum_v[lo]
        vwap = np.where(vol > 0, (cum_pv[before] - cum_pv[lo]) / np.where(vol > 0, vol, 1.0), last)
        # prior reference / out of sequence: the last regular print at or before t - delay
        log_lo, log_hi = np.log(_STALE_DELAY_MIN[0]), np.log(_STALE_DELAY_MIN[1])
        delay = np.exp(rng.uniform(log_lo, log_hi, bad.size)) * NS_PER_MIN
        at = np.searchsorted(ref_ts, t - delay.astype(np.int64), side="right") - 1
        if ref_ts.size:
            stale = np.where(at >= 0, ref_p[np.maximum(at, 0)], np.where(before > 0, ref_p[0], own))
        else:
            stale = own
        # erroneous: 2-10 % off the quote midpoint, on the cent grid
        off = rng.uniform(*_ERRONEOUS_OFF, bad.size) * rng.choice(np.array([-1.0, 1.0]), bad.size)
        mid = (chunk.bid[bad] + chunk.ask[bad]) / 2.0
        wrong = np.maximum(np.round(mid * (1.0 + off) * 100.0) / 100.0, 0.01)
        k = kind[bad]
        price[bad] = np.select([k == 1, (k == 2) | (k == 3)], [np.round(vwap, 4), stale], wrong)
        chunk.price, chunk.kind = price, kind
        st.bad_log.append((chunk.trade_id[bad], k))
        if ref_ts.size:
            keep = max(int(np.searchsorted(ref_ts, ref_ts[-1] - _BAD_MEMORY_NS)),
                       ref_ts.size - BAD_MEMORY_PRINTS)
            st.memory = (ref_ts[keep:].copy(), ref_p[keep:].copy(), ref_s[keep:].copy())

    # --- public API ----------------------------------------------------------------------------------------

    def inject_jump(self, symbol: str, time_ns: int, sigmas: float) -> None:
        """Add a jump to ``symbol`` at ``time_ns`` for the next :meth:`history` (and :meth:`advance`).

        Its log size is ``sigmas`` times the local one-minute sigma, the ``σ_m`` of the minute containing
        ``time_ns`` (intraday shape and clustering level included); its sign is that of ``sigmas``. In
        session mode ``time_ns`` must lie inside a session (:meth:`history` checks).
        """
        if symbol not in {s.symbol for s in self.symbols}:
            raise ValueError(f"unknown symbol {symbol!r}")
        if not (math.isfinite(sigmas) and sigmas != 0):
            raise ValueError(f"sigmas must be finite and non-zero, got {sigmas}")
        self._injected.setdefault(symbol, []).append((int(time_ns), float(sigmas)))

    def jumps(self, symbol: str) -> pa.Table:
        """Every jump of ``symbol`` simulated since the last :meth:`history` began, time-ordered.

        Columns ``time_ns`` (int64; a jump after a session's last trade shows at the next trade),
        ``log_size``, ``local_sigma`` (``σ_m`` of that minute) and ``injected`` (False: random).
        """
        st = self._state(symbol)
        times = np.concatenate([t for t, _ in st.jump_log]) if st.jump_log else np.empty(0, np.int64)
        rows = np.concatenate([r for _, r in st.jump_log], axis=1) if st.jump_log else np.empty((3, 0))
        return pa.table({
            "time_ns": pa.array(times),
            "log_size": pa.array(rows[0]),
            "local_sigma": pa.array(rows[1]),
            "injected": pa.array(rows[2] > 0),
        })

    def bad_prints(self, symbol: str) -> pa.Table:
        """The bad prints of ``symbol`` since the last :meth:`history` began: ``trade_id`` (string, as in
        the trades table) and ``kind`` (``average_price``, ``prior_reference``, ``out_of_sequence``,
        ``erroneous``)."""
        st = self._state(symbol)
        ids = np.concatenate([i for i, _ in st.bad_log]) if st.bad_log else np.empty(0, np.int64)
        kinds = np.concatenate([k for _, k in st.bad_log]) if st.bad_log else np.empty(0, np.int8)
        return pa.table({
            "trade_id": pc.cast(pa.array(ids), pa.string()),
            "kind": pc.take(pa.array(_KIND_NAMES), pa.array(kinds.astype(np.int64))),
        })

    def trade_truth(self, symbol: str) -> pa.Table:
        """Every trade of ``symbol`` since the last :meth:`history` began (needs ``record_truth=True``).

        Columns: ``trade_id`` (as in the trades table), ``ts_ns``, ``side`` (int8, +1 buyer-, -1
        seller-initiated), ``true_mid`` (the efficient price), ``book_bid``/
        ``book_ask`` (the book it printed against), ``quote_ts_ns``/``quote_bid``/``quote_ask``/``quote_kind``
        (the quote published for it: ``normal``, ``locked`` or ``crossed``), ``at_quote`` (printed at the
        book's bid or ask: neither inside the spread nor a bad print).
        """
        if not self.record_truth:
            raise ValueError("trade_truth needs SyntheticMarket(..., record_truth=True)")
        st = self._state(symbol)
        chunks = st.truth_log
        n = sum(c.ts_ns.size for c in chunks)

        def col(name: str, fallback: str | None = None, default: float = np.nan) -> np.ndarray:
            """Column ``name`` over the chunks; where a chunk lacks it, column ``fallback`` or ``default``."""
            parts = [getattr(c, name) if getattr(c, name) is not None
                     else getattr(c, fallback) if fallback else np.full(c.ts_ns.size, default) for c in chunks]
            return np.concatenate(parts) if parts else np.empty(0)

        at_quote = col("at_quote", default=1.0).astype(bool) & (_kinds(chunks) == 0 if n else np.empty(0, bool))
        return pa.table({
            "trade_id": pc.cast(pa.array(col("trade_id").astype(np.int64)), pa.string()),
            "ts_ns": pa.array(col("ts_ns").astype(np.int64)),
            "side": pa.array(col("side").astype(np.int8)),
            "true_mid": pa.array(col("true_mid")),
            "book_bid": pa.array(col("bid")),
            "book_ask": pa.array(col("ask")),
            "quote_ts_ns": pa.array(col("quote_ts_ns").astype(np.int64)),
            "quote_bid": pa.array(col("quote_bid", "bid")),
            "quote_ask": pa.array(col("quote_ask", "ask")),
            "quote_kind": pc.take(pa.array(_QUOTE_KINDS), pa.array(col("quote_kind", default=0).astype(np.int64))),
            "at_quote": pa.array(at_quote),
        })

    def _state(self, symbol: str) -> _SymbolState:
        if self._states is None:
            raise ValueError("nothing simulated yet: call history() or advance() first")
        for st in self._states:
            if st.spec.symbol == symbol:
                return st
        raise ValueError(f"unknown symbol {symbol!r}")

    def history(self, start_ns: int, end_ns: int, *, rate: float | None = None) -> tuple[pa.Table, pa.Table]:
        """Simulate ``[start_ns, end_ns)`` and return ``(trades, quotes)`` with ``source = "sim"``.

        The market restarts from its initial state at ``start_ns`` (same seed and range ⇒ identical tables)
        and afterwards stands at ``end_ns``, so :meth:`advance` continues the same price path and counters.

        Parameters
        ----------
        start_ns, end_ns
            The range, Unix nanoseconds, ``start_ns < end_ns``.
        rate
            Trades per second over the weight-shared symbols for the backfill; defaults to the market's.

        Returns
        -------
        tuple of pyarrow.Table
            Trades with ``TRADES_SCHEMA`` and quotes (one per trade, just before it) with ``QUOTES_SCHEMA``.
        """
        if end_ns <= start_ns:
            raise ValueError(f"end_ns must be after start_ns, got {start_ns}..{end_ns}")
        segments = self._segments(int(start_ns), int(end_ns))
        if self.session_bounds is not None:
            for symbol, injected in self._injected.items():
                for t, _ in injected:
                    if start_ns <= t < end_ns and not any(s.a_ns <= t < s.b_ns for s in segments):
                        raise ValueError(f"injected jump of {symbol} at {t} lies outside every session")
        self._states = self._fresh_states(int(start_ns), self.rate if rate is None else float(rate))
        trades, quotes = [], []
        for st in self._states:
            chunks = [self._run(st, seg, live=False) for seg in segments]
            if chunks:
                trades.append(_trades_table(st.spec, chunks))
                quotes.append(_quotes_table(st.spec, chunks))
            st.cursor_ns = int(end_ns)
            if rate is not None:
                st.mu_per_s = self._mu_per_s(st.spec, self.rate)
        if not trades:
            return TRADES_SCHEMA.empty_table(), QUOTES_SCHEMA.empty_table()
        return pa.concat_tables(trades), pa.concat_tables(quotes)

    def advance(self, to_ns: int) -> list[dict[str, Any]]:
        """Simulate up to ``to_ns`` (wall clock) and return the Polygon events, time-ordered.

        The first call on a market without history starts at ``to_ns`` and returns nothing. A gap longer
        than :data:`MAX_LIVE_GAP_NS` since the previous call is skipped (the price path just continues). In
        session mode nothing happens outside the sessions.

        Returns
        -------
        list of dict
            ``T``/``Q`` events for stocks and ``XT``/``XQ`` for crypto, with Polygon's field names and types:
            the events of :meth:`advance_batch`, read back from their JSON.
        """
        return self.advance_batch(to_ns).events()

    def advance_batch(self, to_ns: int) -> EventBatch:
        """:meth:`advance`, the events encoded as JSON text column-wise (:mod:`ingest.sim_events`): what the
        simulator sends, without a ``dict`` per event."""
        if self._states is None:
            self._states = self._fresh_states(int(to_ns), self.rate)
            return encode_chunks(self.symbols, [])
        parts: list[tuple[int, _Chunk]] = []
        segments: dict[int, list[_Segment]] = {}
        for st in self._states:
            if to_ns <= st.cursor_ns:
                continue
            if to_ns - st.cursor_ns > MAX_LIVE_GAP_NS:
                st.cursor_ns = int(to_ns) - MAX_LIVE_GAP_NS // 20
                st.last_trade_ns = max(st.last_trade_ns, st.cursor_ns)
                st.pending = st.pending[st.pending >= st.cursor_ns]
            if st.cursor_ns not in segments:
                segments[st.cursor_ns] = self._segments(st.cursor_ns, int(to_ns), split_days=False)
            for seg in segments[st.cursor_ns]:
                parts.append((st.index, self._run(st, seg, live=True)))
            st.cursor_ns = int(to_ns)
        return encode_chunks(self.symbols, parts)

    def symbols_of(self, market: str) -> list[str]:
        """Symbols of ``market`` (``"stocks"`` or ``"crypto"``)."""
        return [s.symbol for s in self.symbols if s.market == market]


# --- output builders --------------------------------------------------------------------------------------


def _column(chunks: list[_Chunk], name: str) -> np.ndarray:
    return np.concatenate([getattr(c, name) for c in chunks])


def _kinds(chunks: list[_Chunk]) -> np.ndarray:
    return np.concatenate([np.zeros(c.ts_ns.size, np.int8) if c.kind is None else c.kind for c in chunks])


def _trades_table(spec: SymbolSpec, chunks: list[_Chunk]) -> pa.Table:
    ts, exchange = _column(chunks, "ts_ns"), _column(chunks, "exchange")
    n = ts.size
    stocks = spec.market == "stocks"
    trf = exchange == 4
    null_i32 = pa.nulls(n, pa.int32())
    null_i64 = pa.nulls(n, pa.int64())
    if stocks:
        kind = _kinds(chunks)
        codes = 2 * kind.astype(np.int64) + _column(chunks, "odd_lot")
        conditions = pc.take(_CONDITION_STRINGS, pa.array(codes))
        correction = pa.array(np.where(kind == 4, ERRONEOUS_CORRECTION, 0).astype(np.int32))
    else:  # 1 = sellside, 2 = buyside
        conditions = pc.take(pa.array(["1", "2"]), pa.array((_column(chunks, "side") > 0).astype(np.int64)))
        correction = null_i32
    columns = {
        "market": pa.repeat(pa.scalar(spec.market), n),
        "symbol": pa.repeat(pa.scalar(spec.symbol), n),
        "ts_ns": pa.array(ts),
        "price": pa.array(_column(chunks, "price")),
        "size": pa.array(_column(chunks, "size")),
        "exchange": pa.array(exchange.astype(np.int32)),
        "trade_id": pc.cast(pa.array(_column(chunks, "trade_id")), pa.string()),
        "conditions": conditions,
        "tape": pa.repeat(pa.scalar(spec.tape, pa.int32()), n) if stocks else null_i32,
        "sequence": pa.array(_column(chunks, "seq")) if stocks else null_i64,
        "trf_id": pa.array(np.full(n, TRF_ID, np.int32), mask=~trf) if stocks else null_i32,
        "trf_ts_ns": pa.array(ts - 1_000_000, mask=~trf) if stocks else null_i64,
        "received_ns": pa.array(ts + _column(chunks, "latency_ns")),
        "source": pa.repeat(pa.scalar("sim"), n),
        "correction": correction,  # used only once TRADES_SCHEMA has the column
    }
    return pa.Table.from_arrays([columns[name] for name in TRADES_SCHEMA.names], schema=TRADES_SCHEMA)


def _quotes_table(spec: SymbolSpec, chunks: list[_Chunk]) -> pa.Table:
    q = _published_quotes(chunks)
    quote_ts, src = q["ts"], q["src"]
    n = quote_ts.size
    stocks = spec.market == "stocks"
    columns = [
        pa.repeat(pa.scalar(spec.market), n),
        pa.repeat(pa.scalar(spec.symbol), n),
        pa.array(quote_ts),
        pa.array(q["bid"]),
        pa.array(_column(chunks, "bid_size")[src]),
        pa.array(q["ask"]),
        pa.array(_column(chunks, "ask_size")[src]),
        pa.array(_column(chunks, "bid_ex")[src]),
        pa.array(_column(chunks, "ask_ex")[src]),
        pa.repeat(pa.scalar("1"), n) if stocks else pa.nulls(n, pa.string()),
        pa.array(q["seq"]) if stocks else pa.nulls(n, pa.int64()),
        pa.repeat(pa.scalar(spec.tape, pa.int32()), n) if stocks else pa.nulls(n, pa.int32()),
        pa.array(quote_ts + _column(chunks, "latency_ns")[src]),
        pa.repeat(pa.scalar("sim"), n),
    ]
    return pa.Table.from_arrays(columns, schema=QUOTES_SCHEMA)


# --- quote dynamics -------------------------------------------------------------------------------------------


def _widening(seg: _Segment, exact: np.ndarray, j_times: np.ndarray) -> np.ndarray:
    """The spread multiplier ``w`` of each trade (module docstring)."""
    open_ns = seg.open_ns if seg.open_ns is not None else exact - exact % NS_PER_DAY
    since_open = np.maximum(exact - open_ns, 0) / NS_PER_MIN
    w = 1.0 + OPEN_WIDEN * np.exp(-since_open / OPEN_WIDEN_MIN)
    if j_times.size and exact.size:
        k = np.searchsorted(j_times, exact)
        before = np.abs(exact - j_times[np.maximum(k - 1, 0)])
        after = np.abs(j_times[np.minimum(k, j_times.size - 1)] - exact)
        nearest = np.minimum(before, after) / NS_PER_S
        w += JUMP_WIDEN * np.exp(-nearest / JUMP_WIDEN_S)
    return w


def _quote_dynamics(qr: np.random.Generator, chunk: _Chunk, prev_ts: np.ndarray, bid_t: np.ndarray,
                    ask_t: np.ndarray, inside: np.ndarray) -> None:
    """Restamp the pre-trade quotes 1-2 ms before their trades, publish some locked or crossed, and add the
    post-trade updates (module docstring); the trade stream is untouched."""
    n = chunk.ts_ns.size
    chunk.quote_ts_ns = np.maximum(chunk.ts_ns - 1_000_000 * (1 + qr.integers(0, 2, n)), prev_ts)
    u = qr.random(n)
    kind = np.where(u < LOCKED_SHARE, 1, np.where(u < LOCKED_SHARE + CROSSED_SHARE, 2, 0)).astype(np.int8)
    q_bid, q_ask = bid_t.astype(np.float64), ask_t.astype(np.float64)
    q_ask = np.where(kind == 1, q_bid, np.where(kind == 2, q_bid - 1.0, q_ask))
    chunk.quote_bid, chunk.quote_ask, chunk.quote_kind = q_bid / 100.0, q_ask / 100.0, kind
    post = (qr.random(n) < POST_TRADE_QUOTE) & ~inside
    buy = chunk.side > 0
    chunk.post_bid = np.where(post, np.where(buy, bid_t, bid_t - 1.0) / 100.0, np.nan)
    chunk.post_ask = np.where(post, np.where(buy, ask_t + 1.0, ask_t) / 100.0, np.nan)


def _published_quotes(chunks: list[_Chunk]) -> dict[str, np.ndarray]:
    """Every published quote of ``chunks`` in time order: each trade's pre-trade quote, then its post-trade
    update when it has one. Columns ``ts``, ``bid``, ``ask``, ``seq`` and ``src`` (the trade's index)."""
    ts, seq = _column(chunks, "quote_ts_ns"), _column(chunks, "seq")
    bid, ask = _column(chunks, "bid"), _column(chunks, "ask")
    if all(c.quote_bid is None for c in chunks):
        return {"ts": ts, "bid": bid, "ask": ask, "seq": seq - 1, "src": np.arange(ts.size)}
    q_bid = np.concatenate([c.quote_bid if c.quote_bid is not None else c.bid for c in chunks])
    q_ask = np.concatenate([c.quote_ask if c.quote_ask is not None else c.ask for c in chunks])
    p_bid = np.concatenate([c.post_bid if c.post_bid is not None else np.full(c.ts_ns.size, np.nan)
                            for c in chunks])
    p_ask = np.concatenate([c.post_ask if c.post_ask is not None else np.full(c.ts_ns.size, np.nan)
                            for c in chunks])
    n = ts.size
    order = np.empty(2 * n, np.int64)
    order[0::2], order[1::2] = np.arange(n), np.arange(n) + n  # pre k, post k, pre k+1, ...
    all_ts = np.concatenate([ts, _column(chunks, "ts_ns")])[order]
    all_bid = np.concatenate([q_bid, p_bid])[order]
    all_ask = np.concatenate([q_ask, p_ask])[order]
    all_seq = np.concatenate([seq - 1, seq])[order]
    keep = ~np.isnan(all_bid)
    return {"ts": all_ts[keep], "bid": all_bid[keep], "ask": all_ask[keep], "seq": all_seq[keep],
            "src": np.concatenate([np.arange(n), np.arange(n)])[order][keep]}
