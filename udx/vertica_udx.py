"""``batch_microstructure``: the transform as a Vertica Python UDx (user-defined transform function).

SQL (after ``microstructure vertica install-udx``, see ``sql/vertica/udx/install.sql``)::

    -- ad hoc, one symbol, from its first trade:
    SELECT batch_microstructure(ts_ns, price, size, conditions, correction USING PARAMETERS market = 'crypto')
           OVER (PARTITION BY symbol ORDER BY ts_ns) FROM market_data WHERE symbol = 'X:BTCUSD';

    -- the incremental transform (sql/vertica/transform/udx_signals_to_stage.sql): every symbol, resuming
    -- from signal_state; returns symbol, the bar columns and, on each symbol's last bar, the new state
    SELECT batch_microstructure(ts_ns, price, size, conditions, correction, symbol, state
                                USING PARAMETERS settings = '...',
                                market = 'stocks', watermark_ns = ..., computed_at_ns = ...)
           OVER (PARTITION BY symbol ORDER BY ts_ns, COALESCE(sequence, 9223372036854775807), exchange, trade_id) FROM ...

**Same code as the DuckDB path.** Each partition (one symbol's new trades, time-ordered) is handed to
:func:`udx.transform.run_transform` through a one-symbol, in-memory :class:`sql.backend.Storage`
(:class:`PartitionStorage`), so bars, Lee-Mykland, the signal rule and every later stage are literally the
functions the embedded transform runs, with the same float64 arithmetic in the same order. On nodes without
numba, :mod:`udx._jit` falls back to the kernels' plain-Python twins (slower, identical results).

**State and resume.** A UDx cannot read tables, and it sees one partition at a time. So the caller passes
the stored ``signal_state.state`` of the symbol as the last argument (on the partition's first row; NULL
elsewhere and for new symbols), the UDx resumes from it exactly as the client-side transform does, and
returns the state after the symbol's last new bar in the ``state`` column of that last row (NULL on the
others), together with the model fits made on the way (``model_params`` rows as a JSON list, same row). The
caller merges rows, fits and states in one transaction (``VerticaStorage.run_transform_in_database``);
a failed statement writes nothing, so a rerun recomputes the same bars. A partition holds all of a symbol's
trades since its last bar: the first run over a long history puts that whole history of one symbol into one
fenced Python process (memory ~ 24 bytes per trade plus Python lists while reading).

**Bar liquidity.** The 11-argument form ``batch_microstructure(ts_ns, price, size, conditions, correction,
symbol, state, bid_price, bid_size, ask_price, ask_size)`` receives the symbol's trades *and* quotes as one
time-ordered partition (a UDx cannot read the ``quotes`` table): a row whose ``price`` is NULL is a quote, the
others are trades. The quotes are handed to the same ``run_transform`` through :class:`QuotedPartitionStorage`
(its ``read_quotes_many``), so each new bar also gets its ``bar_liquidity`` measures (prevailing NBBO, Lee-Ready
side, spreads, imbalances, Amihud, Roll, Kyle's lambda: :mod:`udx.liquidity_step`), written beside the bar's
signal columns (:data:`sql.contract.LIQUIDITY_COLUMNS`), the liquidity state riding in ``state`` as on DuckDB.

**Realized spread.** The 12-argument form ``batch_microstructure(ts_ns, price, size, conditions, correction,
symbol, state, bid_price, bid_size, ask_price, ask_size, kind)`` also writes the ``bar_realized_spread`` rows of
the symbol's due bars (:mod:`udx.realized_step`), so ``microstructure transform`` on Vertica writes them in its
one transaction, as on DuckDB. ``kind`` tells the rows apart (:data:`ROW_KINDS`): a trade (0), a quote (1), a
stored bar that is due (2: ``ts_ns`` its ``bar_end_ns``; ``realized_spread_due``) and the symbol's newest realized
row (3: ``ts_ns`` its ``bar_end_ns``, ``price`` its ``tick_price``, ``size`` its ``tick_sign``;
``realized_spread_resume``). A UDx cannot read tables, so the caller feeds this plan (as it feeds the state) and
the trades and quotes from where the realized rows resume; :class:`RealizedPartitionStorage` answers
``realized_spread_due`` from it, so :func:`udx.transform.run_transform` computes the rows with the code it runs on
DuckDB (:func:`udx.realized_step.plan_realized`, :meth:`~udx.realized_step.RealizedPlan.rows`, the same reads).
The rows come back as JSON lists in the ``bar_realized_spread`` column of rows of their own after the symbol's
bars (every column but ``symbol`` NULL; at most :data:`REALIZED_ROWS_PER_CARRIER` rows each, so a backfill
stays under the column's size), and also when the symbol has no new bar (a session's last bars become due
after its close). Why here and not client-side after the UDx statement (``plan_realized`` over the stored rows):
that would read the due bars' trades and quotes over the wire (every trade on a first run) and run a second
copy of the transform's chunk reads beside ``run_transform``; here the one ``run_transform`` computes bars and
realized rows from the partition it was fed, and the caller still writes everything in one transaction.

Parameters (``USING PARAMETERS``): ``settings`` (JSON of :class:`sql.settings.Settings` fields; default:
defaults), ``market`` (``stocks``/``crypto``, picks the session; default ``stocks``), ``watermark_ns`` (bars
ending after it are not final; default: the partition's newest trade), ``computed_at_ns`` (default: now).

``vertica_sdk`` exists only inside Vertica: it is imported optionally, and the classes derive from plain
``object`` elsewhere, so this module imports (and is tested) anywhere.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Any

import numpy as np
import pyarrow as pa

from sql.backend import SignalStateRow
from sql.contract import BAR_LIQUIDITY_SCHEMA, BAR_REALIZED_SPREAD_SCHEMA, INTRADAY_PROFILE_SCHEMA, LIQUIDITY_COLUMNS
from sql.contract import MODEL_PARAMS_SCHEMA
from sql.contract import SIGNALS_SCHEMA

try:  # pragma: no cover - only inside Vertica
    import vertica_sdk  # type: ignore[import-not-found]
except ImportError:
    vertica_sdk = None

__all__ = [
    "BatchMicrostructure",
    "BatchMicrostructureFactory",
    "BatchMicrostructureQuotesFactory",
    "BatchMicrostructureResumeFactory",
    "PartitionResult",
    "PartitionStorage",
    "QUOTE_COLUMNS",
    "QuotedPartitionStorage",
    "REALIZED_ROWS_PER_CARRIER",
    "ROW_KINDS",
    "BatchMicrostructureRealizedFactory",
    "RealizedFeed",
    "RealizedPartitionStorage",
    "compute_partition",
    "output_columns",
]

_TransformBase: Any = vertica_sdk.TransformFunction if vertica_sdk is not None else object
_FactoryBase: Any = vertica_sdk.TransformFunctionFactory if vertica_sdk is not None else object

#: Widths of the string outputs; they match sql/vertica/schema/003_trading_signals.sql.
_VARCHAR = {"symbol": 32, "trading_signal": 8, "signal_reason": 512}
_STATE_BYTES = 1_048_576
_SETTINGS_BYTES = 65_000


#: The quote columns of the 11-argument form, after ``symbol, state``.
_QUOTE_ARGS = ("bid_price", "bid_size", "ask_price", "ask_size")
#: ``kind`` of a row of the 12-argument form: a trade, a quote, a stored bar due for its realized row, the newest
#: realized row (where the rows resume).
ROW_KINDS = {"trade": 0, "quote": 1, "due": 2, "resume": 3}
#: Realized rows per ``bar_realized_spread`` JSON value (~250 bytes each: well under the column's 1 MiB).
REALIZED_ROWS_PER_CARRIER = 1000


def output_columns(keyed: bool, quoted: bool = False, realized: bool = False) -> list[tuple[str, str]]:
    """Return the UDx output columns as ``(name, kind)``, kind one of ``int, float, bool, varchar, long``.

    ``keyed=False`` (5 arguments): the ``trading_signals`` columns but ``symbol``; ``keyed=True``
    (7 arguments): ``symbol`` first, then ``state``, ``model_params`` and ``intraday_profile`` (JSON) last;
    ``quoted=True`` (11 arguments, keyed): the bar liquidity measures (:data:`sql.contract.LIQUIDITY_COLUMNS`)
    after the signal columns, before ``state``; ``realized=True`` (12 arguments): ``bar_realized_spread`` (JSON)
    last.
    """
    columns: list[tuple[str, str]] = []
    for field in SIGNALS_SCHEMA:
        if field.name == "symbol" and not keyed:
            continue
        if pa.types.is_string(field.type):
            kind = "varchar"
        elif pa.types.is_boolean(field.type):
            kind = "bool"
        elif pa.types.is_integer(field.type):
            kind = "int"
        else:
            kind = "float"
        columns.append((field.name, kind))
    if quoted:
        columns += [(name, "int" if pa.types.is_integer(BAR_LIQUIDITY_SCHEMA.field(name).type) else "float")
                    for name in LIQUIDITY_COLUMNS]
    if keyed:
        columns += [("state", "long"), ("model_params", "long"), ("intraday_profile", "long")]
    if realized:
        columns.append(("bar_realized_spread", "long"))
    return columns


# --- the computation (no Vertica needed) -------------------------------------------------------------
class PartitionStorage:
    """One symbol's trades in memory, behind the :class:`sql.backend.Storage` methods the transform calls.

    ``newest_trade_ns`` returns the watermark itself (the settings' lateness is set to 0), ``commit_signals``
    keeps what the transform writes.
    """

    def __init__(self, market: str, symbol: str, ts_ns: np.ndarray, price: np.ndarray, size: np.ndarray,
                 state: str | None, bar_seconds: int, watermark_ns: int, conditions: Sequence[str | None] | None = None,
                 correction: Sequence[int | None] | None = None) -> None:
        self._market = market
        self._symbol = symbol
        self._ts = np.ascontiguousarray(ts_ns, dtype=np.int64)
        self._price = np.ascontiguousarray(price, dtype=np.float64)
        self._size = np.ascontiguousarray(size, dtype=np.float64)
        if self._ts.size > 1 and np.any(np.diff(self._ts) < 0):
            raise ValueError("batch_microstructure needs its partition ordered by ts_ns (OVER (... ORDER BY ts_ns))")
        n = self._ts.size
        self._conditions = pa.array(list(conditions) if conditions is not None else [None] * n, pa.string())
        self._correction = pa.array(list(correction) if correction is not None else [None] * n, pa.int32())
        self._state = state
        self._bar_seconds = bar_seconds
        self._watermark = int(watermark_ns)
        self.signals: list[pa.Table] = []
        self.states: list[SignalStateRow] = []
        self.model_params: list[pa.Table] = []
        self.profiles: list[pa.Table] = []
        self.liquidity: list[pa.Table] = []
        self.realized: list[pa.Table] = []

    def newest_trade_ns(self) -> int | None:
        return self._watermark

    def trade_symbols(self) -> list[tuple[str, str]]:
        return [(self._market, self._symbol)]

    def load_signal_states(self, bar_seconds: int) -> dict[str, SignalStateRow]:
        if self._state is None or bar_seconds != self._bar_seconds:
            return {}
        last = int(json.loads(self._state).get("last_bar_end_ns", 0))
        return {self._symbol: SignalStateRow(self._symbol, bar_seconds, last, self._state)}

    def read_trades(self, symbol: str, start_ns: int, end_ns: int) -> pa.Table:
        lo = int(np.searchsorted(self._ts, start_ns, side="left"))
        hi = int(np.searchsorted(self._ts, end_ns, side="left"))
        return pa.table({"ts_ns": self._ts[lo:hi], "price": self._price[lo:hi], "size": self._size[lo:hi],
                         "conditions": self._conditions[lo:hi], "correction": self._correction[lo:hi]})

    def commit_signals(self, signals: pa.Table, states: Sequence[SignalStateRow],
                       model_params: pa.Table | None = None, profiles: pa.Table | None = None,
                       liquidity: pa.Table | None = None, realized: pa.Table | None = None) -> None:
        if realized is not None and realized.num_rows:
            self.realized.append(realized)
        if liquidity is not None and liquidity.num_rows:
            self.liquidity.append(liquidity)
        if signals.num_rows:
            self.signals.append(signals)
        if model_params is not None and model_params.num_rows:
            self.model_params.append(model_params)
        if profiles is not None and profiles.num_rows:
            self.profiles.append(profiles)
        self.states.extend(states)

    def reset_signals(self, symbols: Sequence[str], bar_seconds: int) -> None:
        """Nothing stored here: the caller resets a stale symbol before it hands over its whole history
        (``VerticaStorage.run_transform_in_database``)."""

    def close(self) -> None:
        """Nothing to release."""


class QuotedPartitionStorage(PartitionStorage):
    """:class:`PartitionStorage` with the symbol's quotes too: ``read_quotes_many`` makes ``run_transform``
    compute each new bar's ``bar_liquidity`` row, as it does on DuckDB."""

    def __init__(self, *args: Any, quotes: pa.Table, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        ts = np.ascontiguousarray(quotes.column("ts_ns").to_numpy(), dtype=np.int64)
        if ts.size > 1 and np.any(np.diff(ts) < 0):
            raise ValueError("batch_microstructure needs its quotes ordered by ts_ns (OVER (... ORDER BY ts_ns))")
        self._quotes = quotes

    def read_quotes_many(self, symbols: Sequence[str], start_ns: int, end_ns: int) -> pa.Table:
        ts = self._quotes.column("ts_ns").to_numpy()
        lo = int(np.searchsorted(ts, start_ns, side="left"))
        hi = int(np.searchsorted(ts, end_ns, side="left"))
        part = self._quotes.slice(lo, hi - lo) if self._symbol in symbols else self._quotes.slice(0, 0)
        return part.add_column(0, "symbol", pa.array([self._symbol] * part.num_rows, pa.string()))


@dataclass(frozen=True, slots=True)
class RealizedFeed:
    """What the caller knows of a symbol's realized rows (the UDx reads no table): the stored bars that are due
    (``realized_spread_due``) and its newest row (``realized_spread_resume``: ``bar_end_ns``, ``tick_price``
    (``None``: no price yet), ``tick_sign``; ``None``: no row yet)."""

    due: np.ndarray
    resume: tuple[int, float | None, int] | None = None


class RealizedPartitionStorage(QuotedPartitionStorage):
    """:class:`QuotedPartitionStorage` with the symbol's realized plan: ``realized_spread_due`` makes
    ``run_transform`` compute the ``bar_realized_spread`` rows of its due bars, as it does on DuckDB."""

    def __init__(self, *args: Any, realized: RealizedFeed, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._feed = realized

    def realized_spread_due(self, bar_seconds: int, horizon_seconds: int, until_ns: int) -> tuple[pa.Table, pa.Table]:
        """The fed due bars ending at or before ``until_ns`` and the fed newest row (the caller deleted the rows
        of another horizon before, as ``VerticaStorage.realized_spread_due`` does)."""
        ends = np.asarray(self._feed.due, np.int64)
        ends = np.sort(ends[ends <= until_ns]) if bar_seconds == self._bar_seconds else ends[:0]
        due = pa.table({"symbol": pa.array([self._symbol] * ends.size, pa.string()),
                        "bar_end_ns": pa.array(ends, pa.int64())})
        rows = [] if self._feed.resume is None or bar_seconds != self._bar_seconds else [self._feed.resume]
        resume = pa.table({
            "symbol": pa.array([self._symbol] * len(rows), pa.string()),
            "bar_end_ns": pa.array([r[0] for r in rows], pa.int64()),
            "tick_price": pa.array([r[1] for r in rows], pa.float64()),
            "tick_sign": pa.array([r[2] for r in rows], pa.int32()),
            "min_horizon": pa.array([horizon_seconds] * len(rows), pa.int32()),
            "max_horizon": pa.array([horizon_seconds] * len(rows), pa.int32())})
        return due, resume


#: ``QuotedPartitionStorage``'s quotes: what ``read_quotes_many`` returns but ``symbol``.
QUOTE_COLUMNS = pa.schema([("ts_ns", pa.int64()), ("bid_price", pa.float64()), ("bid_size", pa.float64()),
                           ("ask_price", pa.float64()), ("ask_size", pa.float64())])


@dataclass(frozen=True, slots=True)
class PartitionResult:
    """The new bars of one partition (``SIGNALS_SCHEMA``), the state after the last (``None``: no bar), the
    model fits (``MODEL_PARAMS_SCHEMA``) and the intraday profiles (``INTRADAY_PROFILE_SCHEMA``) made on the
    way (maybe empty)."""

    signals: pa.Table
    state: str | None
    model_params: pa.Table
    profiles: pa.Table = dataclass_field(default_factory=INTRADAY_PROFILE_SCHEMA.empty_table)
    #: ``BAR_LIQUIDITY_SCHEMA`` rows of the new bars, in their order (only when quotes were given)
    liquidity: pa.Table = dataclass_field(default_factory=BAR_LIQUIDITY_SCHEMA.empty_table)
    #: ``BAR_REALIZED_SPREAD_SCHEMA`` rows of the due bars (only with a realized plan)
    realized: pa.Table = dataclass_field(default_factory=BAR_REALIZED_SPREAD_SCHEMA.empty_table)

    def realized_json(self) -> list[str]:
        """The realized rows as JSON lists of at most :data:`REALIZED_ROWS_PER_CARRIER` rows each (floats
        round-trip exactly; NULL stays null)."""
        rows = self.realized.to_pylist()
        return [json.dumps(rows[k:k + REALIZED_ROWS_PER_CARRIER], separators=(",", ":"))
                for k in range(0, len(rows), REALIZED_ROWS_PER_CARRIER)]

    def profiles_json(self) -> str | None:
        """The profile rows as a JSON list, ``None`` without profiles."""
        if self.profiles.num_rows == 0:
            return None
        return json.dumps(self.profiles.to_pylist(), separators=(",", ":"))

    def model_params_json(self) -> str | None:
        """The fits as a JSON list of rows (floats round-trip exactly), ``None`` without fits."""
        if self.model_params.num_rows == 0:
            return None
        return json.dumps(self.model_params.to_pylist(), separators=(",", ":"))


def _settings(settings_json: str | None, bar_seconds: int | None = None) -> Any:
    from sql.settings import Settings

    values: dict[str, Any] = json.loads(settings_json) if settings_json else {}
    values["transform_lateness_seconds"] = 0.0  # the caller's watermark is final already
    if bar_seconds is not None:
        values["bar_seconds"] = bar_seconds
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def compute_partition(
    ts_ns: Sequence[int] | np.ndarray,
    price: Sequence[float] | np.ndarray,
    size: Sequence[float] | np.ndarray,
    *,
    symbol: str = "",
    state: str | None = None,
    settings_json: str | None = None,
    market: str = "stocks",
    watermark_ns: int | None = None,
    computed_at_ns: int | None = None,
    conditions: Sequence[str | None] | None = None,
    correction: Sequence[int | None] | None = None,
    quotes: pa.Table | None = None,
    realized: RealizedFeed | None = None,
) -> PartitionResult:
    """Run :func:`udx.transform.run_transform` on one symbol's time-ordered trades.

    Parameters
    ----------
    ts_ns, price, size
        The partition's trades in time order (those before the state's last bar are ignored).
    conditions, correction
        Their Polygon sale conditions (``"12,37"``) and flat-file correction codes (``None``: regular), which
        decide whether a print sets the price and counts in volume, as in the client-side transform.
    symbol, state
        The symbol and its stored ``signal_state.state`` (``None``: start from its first trade).
    settings_json, market
        Settings (:func:`sql.vertica_backend.udx_settings_json`) and the symbol's market.
    watermark_ns, computed_at_ns
        Bars ending after the watermark are not final (default: newest trade); ``computed_at_ns`` of the rows.
    quotes
        The symbol's quotes in time order (:data:`QUOTE_COLUMNS`); given (even empty), the new bars get their
        bar liquidity (``PartitionResult.liquidity``).
    realized
        The symbol's realized plan (:class:`RealizedFeed`); given, the due bars get their ``bar_realized_spread``
        rows (``PartitionResult.realized``) from the trades and quotes given (quotes default to none).
    """
    from udx.transform import run_transform

    settings = _settings(settings_json)
    ts = np.ascontiguousarray(ts_ns, dtype=np.int64)
    if watermark_ns is None:
        watermark_ns = int(ts[-1]) if ts.size else 0
    args = (market, symbol, ts, np.asarray(price, np.float64), np.asarray(size, np.float64), state,
            settings.bar_seconds, watermark_ns, conditions, correction)
    if realized is not None:
        storage: PartitionStorage = RealizedPartitionStorage(
            *args, quotes=QUOTE_COLUMNS.empty_table() if quotes is None else quotes, realized=realized)
    else:
        storage = PartitionStorage(*args) if quotes is None else QuotedPartitionStorage(*args, quotes=quotes)
    run_transform(storage, settings, now_ns=time.time_ns() if computed_at_ns is None else computed_at_ns)  # type: ignore[arg-type]
    signals = pa.concat_tables(storage.signals) if storage.signals else SIGNALS_SCHEMA.empty_table()
    new_state = storage.states[-1].state if storage.states else None
    fits = pa.concat_tables(storage.model_params) if storage.model_params else MODEL_PARAMS_SCHEMA.empty_table()
    profiles = pa.concat_tables(storage.profiles) if storage.profiles else INTRADAY_PROFILE_SCHEMA.empty_table()
    liquidity = pa.concat_tables(storage.liquidity) if storage.liquidity else BAR_LIQUIDITY_SCHEMA.empty_table()
    rows = pa.concat_tables(storage.realized) if storage.realized else BAR_REALIZED_SPREAD_SCHEMA.empty_table()
    return PartitionResult(signals, new_state, fits, profiles, liquidity, rows)


# --- the Vertica interface ---------------------------------------------------------------------------
def _param(reader: Any, name: str, kind: str) -> Any:
    if reader is None or not reader.containsParameter(name):
        return None
    return reader.getString(name) if kind == "str" else reader.getInt(name)


class BatchMicrostructure(_TransformBase):  # type: ignore[misc]
    """The transform function: one call of :meth:`processPartition` per symbol (partition)."""

    def __init__(self, keyed: bool, quoted: bool = False, realized: bool = False) -> None:
        self._keyed = keyed or quoted or realized
        self._quoted = quoted or realized
        self._realized = realized
        self._params: dict[str, Any] = {}

    def setup(self, server_interface: Any, col_types: Any) -> None:
        reader = server_interface.getParamReader()
        self._params = {
            "settings_json": _param(reader, "settings", "str"),
            "market": _param(reader, "market", "str") or "stocks",
            "watermark_ns": _param(reader, "watermark_ns", "int"),
            "computed_at_ns": _param(reader, "computed_at_ns", "int"),
        }

    def processPartition(self, server_interface: Any, reader: Any, writer: Any) -> None:  # noqa: N802 - SDK name
        ts: list[int] = []
        px: list[float] = []
        sz: list[float] = []
        cond: list[str | None] = []
        corr: list[int | None] = []
        symbol: str | None = None
        state: str | None = None
        quotes: list[list[Any]] = [[] for _ in QUOTE_COLUMNS]
        due: list[int] = []
        resume: tuple[int, float | None, int] | None = None
        while True:
            kind = reader.getInt(11) if self._realized and not reader.isNull(11) else None
            # the 12-argument form names each row's kind; the 11-argument one has a quote's price NULL
            is_quote = kind == ROW_KINDS["quote"] if self._realized else self._quoted and reader.isNull(1)
            if kind == ROW_KINDS["due"]:
                due.append(reader.getInt(0))
            elif kind == ROW_KINDS["resume"]:
                resume = (reader.getInt(0), None if reader.isNull(1) else reader.getFloat(1), int(reader.getFloat(2)))
            elif is_quote:
                if not reader.isNull(0):
                    quotes[0].append(reader.getInt(0))
                    for k in range(1, len(QUOTE_COLUMNS)):
                        quotes[k].append(None if reader.isNull(6 + k) else reader.getFloat(6 + k))
            elif not reader.isNull(0):
                ts.append(reader.getInt(0))
                px.append(float("nan") if reader.isNull(1) else reader.getFloat(1))  # skipped by the transform
                sz.append(float("nan") if reader.isNull(2) else reader.getFloat(2))
                cond.append(None if reader.isNull(3) else reader.getString(3))
                corr.append(None if reader.isNull(4) else reader.getInt(4))
            if self._keyed:
                if symbol is None and not reader.isNull(5):
                    symbol = reader.getString(5)
                if state is None and not reader.isNull(6):
                    state = reader.getString(6)
            if not reader.next():
                break
        if not ts and not due:  # due bars without a trade since the newest realized row still get their rows
            return
        quoted = pa.Table.from_arrays([pa.array(c, f.type) for c, f in zip(quotes, QUOTE_COLUMNS, strict=True)],
                                      schema=QUOTE_COLUMNS) if self._quoted else None
        feed = RealizedFeed(np.array(due, np.int64), resume) if self._realized else None
        result = compute_partition(ts, px, sz, symbol=symbol or "", state=state, conditions=cond, correction=corr,
                                   quotes=quoted, realized=feed, **self._params)
        _write(writer, result, self._keyed, self._quoted, (symbol or "") if self._realized else None)

    def destroy(self, server_interface: Any, col_types: Any) -> None:
        """Nothing to release."""


def _write(writer: Any, result: PartitionResult, keyed: bool, quoted: bool = False,
           realized_symbol: str | None = None) -> None:
    """Write the partition's rows; ``state``, ``model_params`` and ``intraday_profile`` only on the last row
    of a keyed call; the bar liquidity beside each bar's signals in a quoted one; with ``realized_symbol`` (the
    12-argument form), then one row per :data:`REALIZED_ROWS_PER_CARRIER` realized rows, only ``symbol`` and
    ``bar_realized_spread`` set."""
    table = result.signals
    last = {"state": result.state, "model_params": result.model_params_json(),
            "intraday_profile": result.profiles_json()}
    m = table.num_rows
    columns = output_columns(keyed, quoted, realized_symbol is not None)
    values = {name: table.column(name).to_pylist() for name, _ in columns
              if name not in last and name not in LIQUIDITY_COLUMNS and name != "bar_realized_spread"}
    if quoted:
        liquidity = result.liquidity
        if liquidity.column("bar_end_ns").to_pylist() != table.column("bar_end_ns").to_pylist():
            raise RuntimeError("batch_microstructure: bar liquidity rows do not match the bars")  # a bug, not data
        values.update({name: liquidity.column(name).to_pylist() for name in LIQUIDITY_COLUMNS})
    carriers = result.realized_json() if realized_symbol is not None else []
    for i in range(m + len(carriers)):
        for col, (name, kind) in enumerate(columns):
            if i >= m:  # a row carrying realized rows only
                value = {"symbol": realized_symbol, "bar_realized_spread": carriers[i - m]}.get(name)
            elif name == "bar_realized_spread":
                value = None
            elif name in last:
                value = last[name] if i == m - 1 else None
            else:
                value = values[name][i]
            if value is None:
                writer.setNull(col)
            elif kind == "int":
                writer.setInt(col, int(value))
            elif kind == "float":
                writer.setFloat(col, float(value))
            elif kind == "bool":
                writer.setBool(col, bool(value))
            else:
                writer.setString(col, str(value))
        writer.next()


class _Factory(_FactoryBase):  # type: ignore[misc]
    keyed = False
    quoted = False
    realized = False

    def getPrototype(self, server_interface: Any, arg_types: Any, return_type: Any) -> None:  # noqa: N802
        arg_types.addInt()  # ts_ns
        arg_types.addFloat()  # price
        arg_types.addFloat()  # size
        arg_types.addVarchar()  # conditions
        arg_types.addInt()  # correction
        if self.keyed:
            arg_types.addVarchar()  # symbol
            arg_types.addLongVarchar()  # state
        if self.quoted:
            for _ in _QUOTE_ARGS:  # bid_price, bid_size, ask_price, ask_size
                arg_types.addFloat()
        if self.realized:
            arg_types.addInt()  # kind (ROW_KINDS)
        for _, kind in output_columns(self.keyed, self.quoted, self.realized):
            {"int": return_type.addInt, "float": return_type.addFloat, "bool": return_type.addBool,
             "varchar": return_type.addVarchar, "long": return_type.addLongVarchar}[kind]()

    def getReturnType(self, server_interface: Any, arg_types: Any, return_type: Any) -> None:  # noqa: N802
        for name, kind in output_columns(self.keyed, self.quoted, self.realized):
            if kind == "int":
                return_type.addInt(name)
            elif kind == "float":
                return_type.addFloat(name)
            elif kind == "bool":
                return_type.addBool(name)
            elif kind == "varchar":
                return_type.addVarchar(_VARCHAR[name], name)
            else:
                return_type.addLongVarchar(_STATE_BYTES, name)

    def getParameterType(self, server_interface: Any, parameter_types: Any) -> None:  # noqa: N802
        parameter_types.addVarchar(_SETTINGS_BYTES, "settings")
        parameter_types.addVarchar(16, "market")
        parameter_types.addInt("watermark_ns")
        parameter_types.addInt("computed_at_ns")

    def createTransformFunction(self, server_interface: Any) -> BatchMicrostructure:  # noqa: N802
        return BatchMicrostructure(self.keyed, self.quoted, self.realized)


class BatchMicrostructureFactory(_Factory):
    """``batch_microstructure(ts_ns, price, size, conditions, correction)``: bars of one partition from its
    first trade."""

    keyed = False


class BatchMicrostructureResumeFactory(_Factory):
    """``batch_microstructure(ts_ns, price, size, conditions, correction, symbol, state)``: resumes from
    ``state``, returns the next."""

    keyed = True


class BatchMicrostructureQuotesFactory(_Factory):
    """``batch_microstructure(ts_ns, price, size, conditions, correction, symbol, state, bid_price, bid_size,
    ask_price, ask_size)``: trades and quotes (``price`` NULL) in one partition; resumes from ``state`` and
    returns each bar's liquidity measures beside its signals."""

    keyed = True
    quoted = True


class BatchMicrostructureRealizedFactory(_Factory):
    """``batch_microstructure(ts_ns, price, size, conditions, correction, symbol, state, bid_price, bid_size,
    ask_price, ask_size, kind)``: the quotes form plus the realized plan (``kind``, :data:`ROW_KINDS`); returns
    the ``bar_realized_spread`` rows of the due bars as JSON after the symbol's bars."""

    keyed = True
    quoted = True
    realized = True
