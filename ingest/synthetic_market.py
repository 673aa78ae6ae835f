"""A deterministic synthetic market that looks like one: the data model behind the Polygon simulator.

Each symbol is simulated independently from its own random stream (``seed``, symbol index), so adding a
symbol never changes the others. Four stylized facts are built in, each from a small, documented model:

*Volatility clustering.* Per UTC minute ``m`` the log-variance follows a stationary AR(1),
``h_m = φ h_{m-1} + sqrt(1 - φ²) s ε_m`` (``φ = 0.985``, ``s = 0.7``: a half-life of ~45 minutes), and the
diffusive variance of that minute is ``σ_m² = σ_base² · u(minute of day) · exp(h_m) / E[exp(h)]``. The path
of ``h`` over UTC day ``d`` is a pure function of (seed, symbol, day): it is run from a stationary draw over
day ``d-1``'s shocks first (``φ^1440 ≈ 0``), so days join continuously and any time range is reproducible.

*Intraday pattern.* Trade intensity and variance are U-shaped over the UTC day (the demo runs 24-hour
sessions): ``u(x) = a + b (2x - 1)²`` with ``x`` the fraction of the UTC day elapsed, mean 1 over the day,
about 3× busier at midnight UTC than at noon UTC. Intensity also rises with the variance (``exp(κ h)``).

*Bursts.* Trade arrivals are a Hawkes process with an exponential kernel, simulated as a cluster process:
immigrants arrive as a non-homogeneous Poisson process, every trade begets ``Poisson(η)`` children after
``Exp(τ)`` delays (``η = 0.55``, ``τ = 0.8 s``), generation by generation, vectorized with numpy. Children
that fall past the end of a chunk are carried to the next one.

*Jumps.* Every UTC day each symbol gets ``1 + Poisson(1)`` jumps at uniform times (mean 2 a day), of size
``U(12, 20) · max(σ_m, σ_base)`` in log-price with a random sign: far beyond 10 one-minute standard
deviations.

Prices: the efficient log-price moves by ``σ_m · sqrt(Δt / 60 s) · z`` between trades plus the jumps. Each
trade is preceded by the prevailing quote (``bid = floor(mid/tick - k/2)·tick``, ``ask = bid + k·tick`` with
a spread of ``k`` ticks drawn per quote) and prints at the ask (buyer-initiated), the bid (seller-initiated)
or, sometimes, inside the spread; the side leans towards the sign of the efficient-price move, so order
flow carries information (VPIN has something to see). All prices are on the 0.01 grid.

Two ways to consume it: :meth:`SyntheticMarket.history` writes ``TRADES_SCHEMA`` / ``QUOTES_SCHEMA`` tables
directly (fast backfill; same seed and range ⇒ identical tables) and :meth:`SyntheticMarket.advance` returns
Polygon events (``T``/``Q``/``XT``/``XQ`` with the real field names) up to a wall-clock time, continuing from
where the history ended: the same price path, trade-id and sequence counters carry on, so history and live
trades never share a dedupe key. Timestamps are whole milliseconds, as the WebSocket feed delivers them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sql.contract import QUOTES_SCHEMA, TRADES_SCHEMA

__all__ = ["DEFAULT_SYMBOLS", "SymbolSpec", "SyntheticMarket"]

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
#: A wall-clock gap longer than this between two live ``advance`` calls is skipped, not back-filled.
MAX_LIVE_GAP_NS = 2 * NS_PER_S
_STOCK_EXCHANGES = np.array([4, 8, 10, 11, 12, 15, 19, 21], dtype=np.int32)
_STOCK_EX_WEIGHTS = np.array([0.30, 0.04, 0.10, 0.10, 0.22, 0.08, 0.08, 0.08])
_CRYPTO_EXCHANGES = np.array([1, 2, 6, 10], dtype=np.int32)
_CRYPTO_EX_WEIGHTS = np.array([0.55, 0.15, 0.15, 0.15])
_TRF_ID = 202  # FINRA Nasdaq TRF Carteret, for trades reported on exchange 4


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """One simulated instrument.

    ``daily_vol`` is the standard deviation of a 24-hour log return; ``weight`` its share of the trades;
    ``max_spread_ticks`` the widest quoted spread in ticks.
    """

    symbol: str
    market: str
    price: float
    daily_vol: float
    weight: float
    max_spread_ticks: int
    tape: int | None = None


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


def intraday_u(x: np.ndarray) -> np.ndarray:
    """U-shaped intraday factor over the fraction ``x`` of the UTC day; mean 1 over ``[0, 1)``."""
    return U_A + U_B * (2.0 * x - 1.0) ** 2


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


class SyntheticMarket:
    """A seeded, stateful market of several symbols (see the module docstring for the model).

    Parameters
    ----------
    seed
        Seed of every random stream; same seed and same calls ⇒ identical output.
    rate
        Mean trades per second over all symbols together.
    symbols
        The instruments; defaults to :data:`DEFAULT_SYMBOLS`.
    """

    def __init__(self, seed: int, rate: float, symbols: tuple[SymbolSpec, ...] = DEFAULT_SYMBOLS) -> None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.seed = seed
        self.rate = float(rate)
        self.symbols = symbols
        self._states: list[_SymbolState] | None = None

    # --- state -------------------------------------------------------------------------------------------

    def _fresh_states(self, start_ns: int, rate: float) -> list[_SymbolState]:
        total_weight = sum(s.weight for s in self.symbols)
        return [
            _SymbolState(
                spec=spec,
                index=i,
                rng=np.random.default_rng([self.seed, i, 0]),
                sigma_base=spec.daily_vol / np.sqrt(MIN_PER_DAY),
                mu_per_s=rate * spec.weight / total_weight,
                log_price=float(np.log(spec.price)),
                cursor_ns=start_ns,
                last_trade_ns=start_ns,
            )
            for i, spec in enumerate(self.symbols)
        ]

    def _day_latent(self, st: _SymbolState, day: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-minute ``σ_m`` and intensity factor of UTC ``day``, and its jumps ``(times_ns, sizes)``."""
        cached = st.days.get(day)
        if cached is not None:
            return cached
        shocks = [np.random.default_rng([self.seed, st.index, 1, d]).standard_normal(MIN_PER_DAY)
                  for d in (day - 1, day)]
        eps = np.concatenate(shocks) * (np.sqrt(1.0 - PHI * PHI) * H_SD)
        h = np.empty(2 * MIN_PER_DAY)
        prev = np.random.default_rng([self.seed, st.index, 2, day]).standard_normal() * H_SD
        for k in range(2 * MIN_PER_DAY):  # 2880 steps: a plain loop is fast enough
            prev = PHI * prev + eps[k]
            h[k] = prev
        h = h[MIN_PER_DAY:]
        u = intraday_u((np.arange(MIN_PER_DAY) + 0.5) / MIN_PER_DAY)
        sigma = st.sigma_base * np.sqrt(u * np.exp(h - H_SD * H_SD / 2.0))
        activity = u * np.exp(KAPPA * h - (KAPPA * H_SD) ** 2 / 2.0)
        jr = np.random.default_rng([self.seed, st.index, 3, day])
        n_jumps = 1 + int(jr.poisson(1.0))
        j_times = np.sort(jr.integers(0, NS_PER_DAY, n_jumps)) + day * NS_PER_DAY
        j_min = (j_times // NS_PER_MIN) % MIN_PER_DAY
        j_sizes = (jr.uniform(JUMP_LOW, JUMP_HIGH, n_jumps) * np.maximum(sigma[j_min], st.sigma_base)
                   * jr.choice(np.array([-1.0, 1.0]), n_jumps))
        if len(st.days) > 4:
            st.days.pop(min(st.days))
        st.days[day] = (sigma, activity, np.stack([j_times.astype(np.float64), j_sizes]))
        return st.days[day]

    def _minute_arrays(self, st: _SymbolState, minutes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``σ`` and activity at absolute UTC minute indices ``minutes``."""
        sigma = np.empty(len(minutes))
        activity = np.empty(len(minutes))
        days = minutes // MIN_PER_DAY
        for day in np.unique(days):
            s, a, _ = self._day_latent(st, int(day))
            sel = days == day
            sigma[sel] = s[minutes[sel] - day * MIN_PER_DAY]
            activity[sel] = a[minutes[sel] - day * MIN_PER_DAY]
        return sigma, activity

    def _jumps_in(self, st: _SymbolState, a_ns: int, b_ns: int) -> tuple[np.ndarray, np.ndarray]:
        times, sizes = [], []
        for day in range(a_ns // NS_PER_DAY, (b_ns - 1) // NS_PER_DAY + 1):
            jt, js = self._day_latent(st, day)[2]
            sel = (jt >= a_ns) & (jt < b_ns)
            times.append(jt[sel].astype(np.int64))
            sizes.append(js[sel])
        return np.concatenate(times), np.concatenate(sizes)

    # --- arrivals ----------------------------------------------------------------------------------------

    def _arrivals(self, st: _SymbolState, a_ns: int, b_ns: int) -> np.ndarray:
        """Sorted trade times in ``[a_ns, b_ns)``; later descendants go to ``st.pending``."""
        rng = st.rng
        bin_ns = min(NS_PER_S, b_ns - a_ns)
        edges = np.arange(a_ns, b_ns, bin_ns, dtype=np.int64)
        widths = np.minimum(edges + bin_ns, b_ns) - edges
        mids = edges + widths // 2
        _, activity = self._minute_arrays(st, mids // NS_PER_MIN)
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
        events.append(st.pending)
        times = np.sort(np.concatenate(events))
        cut = int(np.searchsorted(times, b_ns, side="left"))
        st.pending = times[cut:]
        return times[:cut]

    # --- one chunk ---------------------------------------------------------------------------------------

    def _chunk(self, st: _SymbolState, a_ns: int, b_ns: int) -> _Chunk:
        rng, spec = st.rng, st.spec
        exact = self._arrivals(st, a_ns, b_ns)
        n = exact.size
        ts = exact - exact % 1_000_000  # whole milliseconds, as Polygon's ``t``
        sigma, _ = self._minute_arrays(st, exact // NS_PER_MIN)
        dt_min = np.diff(exact, prepend=st.last_trade_ns) / NS_PER_MIN
        incr = sigma * np.sqrt(np.maximum(dt_min, 0.0)) * rng.standard_normal(n)
        j_times, j_sizes = self._jumps_in(st, a_ns, b_ns)
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
        return _Chunk(
            ts_ns=ts, quote_ts_ns=quote_ts, price=price_t / 100.0, size=size, exchange=exchange,
            trade_id=ids, seq=2 * ids, side=side, odd_lot=odd_lot, bid=bid_t / 100.0, ask=ask_t / 100.0,
            bid_size=bid_size, ask_size=ask_size,
            bid_ex=bid_ex.astype(np.int32), ask_ex=ask_ex.astype(np.int32),
            latency_ns=rng.integers(2_000_000, 40_000_000, n),
        )

    # --- public API ----------------------------------------------------------------------------------------

    def history(self, start_ns: int, end_ns: int, *, rate: float | None = None) -> tuple[pa.Table, pa.Table]:
        """Simulate ``[start_ns, end_ns)`` and return ``(trades, quotes)`` with ``source = "sim"``.

        The market restarts from its initial state at ``start_ns`` (same seed and range ⇒ identical tables)
        and afterwards stands at ``end_ns``, so :meth:`advance` continues the same price path and counters.

        Parameters
        ----------
        start_ns, end_ns
            The range, Unix nanoseconds, ``start_ns < end_ns``.
        rate
            Trades per second over all symbols for the backfill; defaults to the market's ``rate``.

        Returns
        -------
        tuple of pyarrow.Table
            Trades with ``TRADES_SCHEMA`` and quotes (one per trade, just before it) with ``QUOTES_SCHEMA``.
        """
        if end_ns <= start_ns:
            raise ValueError(f"end_ns must be after start_ns, got {start_ns}..{end_ns}")
        self._states = self._fresh_states(int(start_ns), self.rate if rate is None else float(rate))
        trades, quotes = [], []
        for st in self._states:
            a = int(start_ns)
            while a < end_ns:
                b = min(int(end_ns), (a // NS_PER_DAY + 1) * NS_PER_DAY)  # chunks end at UTC midnight
                chunk = self._chunk(st, a, b)
                trades.append(_trades_table(st.spec, chunk))
                quotes.append(_quotes_table(st.spec, chunk))
                a = b
            st.cursor_ns = int(end_ns)
            if rate is not None:
                st.mu_per_s = self.rate * st.spec.weight / sum(s.weight for s in self.symbols)
        return pa.concat_tables(trades), pa.concat_tables(quotes)

    def advance(self, to_ns: int) -> list[dict[str, Any]]:
        """Simulate up to ``to_ns`` (wall clock) and return the Polygon events, time-ordered.

        The first call on a market without history starts at ``to_ns`` and returns nothing. A gap longer
        than :data:`MAX_LIVE_GAP_NS` since the previous call is skipped (the price path just continues).

        Returns
        -------
        list of dict
            ``T``/``Q`` events for stocks and ``XT``/``XQ`` for crypto, with Polygon's field names and types.
        """
        if self._states is None:
            self._states = self._fresh_states(int(to_ns), self.rate)
            return []
        events: list[tuple[int, int, dict[str, Any]]] = []
        for st in self._states:
            if to_ns <= st.cursor_ns:
                continue
            if to_ns - st.cursor_ns > MAX_LIVE_GAP_NS:
                st.cursor_ns = int(to_ns) - MAX_LIVE_GAP_NS // 20
                st.last_trade_ns = max(st.last_trade_ns, st.cursor_ns)
                st.pending = st.pending[st.pending >= st.cursor_ns]
            chunk = self._chunk(st, st.cursor_ns, int(to_ns))
            st.cursor_ns = int(to_ns)
            events.extend(_polygon_events(st.spec, chunk))
        events.sort(key=lambda item: (item[0], item[1]))
        return [ev for _, _, ev in events]

    def symbols_of(self, market: str) -> list[str]:
        """Symbols of ``market`` (``"stocks"`` or ``"crypto"``)."""
        return [s.symbol for s in self.symbols if s.market == market]


# --- output builders --------------------------------------------------------------------------------------


def _conditions_array(chunk: _Chunk, market: str) -> pa.Array:
    if market == "crypto":
        codes = np.where(chunk.side > 0, 2, 1)  # 1 = sellside, 2 = buyside
        return pc.take(pa.array(["1", "2"]), pa.array(codes - 1))
    codes = chunk.odd_lot.astype(np.int8)  # 37 = odd lot; regular trades carry no condition
    return pc.take(pa.array([None, "37"], pa.string()), pa.array(codes))


def _trades_table(spec: SymbolSpec, chunk: _Chunk) -> pa.Table:
    n = chunk.ts_ns.size
    stocks = spec.market == "stocks"
    trf = chunk.exchange == 4
    null_i32 = pa.nulls(n, pa.int32())
    null_i64 = pa.nulls(n, pa.int64())
    columns = [
        pa.repeat(pa.scalar(spec.market), n),
        pa.repeat(pa.scalar(spec.symbol), n),
        pa.array(chunk.ts_ns),
        pa.array(chunk.price),
        pa.array(chunk.size),
        pa.array(chunk.exchange.astype(np.int32)),
        pc.cast(pa.array(chunk.trade_id), pa.string()),
        _conditions_array(chunk, spec.market),
        pa.repeat(pa.scalar(spec.tape, pa.int32()), n) if stocks else null_i32,
        pa.array(chunk.seq) if stocks else null_i64,
        pa.array(np.full(n, _TRF_ID, np.int32), mask=~trf) if stocks else null_i32,
        pa.array(chunk.ts_ns - 1_000_000, mask=~trf) if stocks else null_i64,
        pa.array(chunk.ts_ns + chunk.latency_ns),
        pa.repeat(pa.scalar("sim"), n),
    ]
    return pa.Table.from_arrays(columns, schema=TRADES_SCHEMA)


def _quotes_table(spec: SymbolSpec, chunk: _Chunk) -> pa.Table:
    n = chunk.ts_ns.size
    stocks = spec.market == "stocks"
    columns = [
        pa.repeat(pa.scalar(spec.market), n),
        pa.repeat(pa.scalar(spec.symbol), n),
        pa.array(chunk.quote_ts_ns),
        pa.array(chunk.bid),
        pa.array(chunk.bid_size),
        pa.array(chunk.ask),
        pa.array(chunk.ask_size),
        pa.array(chunk.bid_ex),
        pa.array(chunk.ask_ex),
        pa.repeat(pa.scalar("1"), n) if stocks else pa.nulls(n, pa.string()),
        pa.array(chunk.seq - 1) if stocks else pa.nulls(n, pa.int64()),
        pa.repeat(pa.scalar(spec.tape, pa.int32()), n) if stocks else pa.nulls(n, pa.int32()),
        pa.array(chunk.quote_ts_ns + chunk.latency_ns),
        pa.repeat(pa.scalar("sim"), n),
    ]
    return pa.Table.from_arrays(columns, schema=QUOTES_SCHEMA)


def _polygon_events(spec: SymbolSpec, chunk: _Chunk) -> list[tuple[int, int, dict[str, Any]]]:
    """Polygon events of a chunk as ``(t_ms, order, event)``; a quote sorts before its trade."""
    out: list[tuple[int, int, dict[str, Any]]] = []
    t_ms = (chunk.ts_ns // 1_000_000).tolist()
    q_ms = (chunk.quote_ts_ns // 1_000_000).tolist()
    price, size = chunk.price.tolist(), chunk.size.tolist()
    bid, ask = chunk.bid.tolist(), chunk.ask.tolist()
    bs, as_ = chunk.bid_size.tolist(), chunk.ask_size.tolist()
    ex, bx, ax = chunk.exchange.tolist(), chunk.bid_ex.tolist(), chunk.ask_ex.tolist()
    ids, seq, side = chunk.trade_id.tolist(), chunk.seq.tolist(), chunk.side.tolist()
    odd = chunk.odd_lot.tolist()
    recv = ((chunk.ts_ns + chunk.latency_ns) // 1_000_000).tolist()
    sym = spec.symbol
    if spec.market == "stocks":
        for k in range(len(t_ms)):
            out.append((q_ms[k], 2 * k, {
                "ev": "Q", "sym": sym, "bx": bx[k], "bp": bid[k], "bs": int(bs[k]), "ax": ax[k], "ap": ask[k],
                "as": int(as_[k]), "c": 1, "t": q_ms[k], "q": seq[k] - 1, "z": spec.tape,
            }))
            trade: dict[str, Any] = {
                "ev": "T", "sym": sym, "x": ex[k], "i": str(ids[k]), "z": spec.tape, "p": price[k],
                "s": int(size[k]), "t": t_ms[k], "q": seq[k],
            }
            if odd[k]:
                trade["c"] = [37]
            if ex[k] == 4:
                trade["trfi"] = _TRF_ID
                trade["trft"] = t_ms[k] - 1
            out.append((t_ms[k], 2 * k + 1, trade))
    else:
        for k in range(len(t_ms)):
            out.append((q_ms[k], 2 * k, {
                "ev": "XQ", "pair": sym, "bp": bid[k], "bs": bs[k], "ap": ask[k], "as": as_[k], "t": q_ms[k],
                "x": bx[k], "r": recv[k],
            }))
            out.append((t_ms[k], 2 * k + 1, {
                "ev": "XT", "pair": sym, "p": price[k], "t": t_ms[k], "s": size[k],
                "c": [2 if side[k] > 0 else 1], "i": str(ids[k]), "x": ex[k], "r": recv[k],
            }))
    return out
