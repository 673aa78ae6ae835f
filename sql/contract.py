"""The storage contract of DESIGN §5 as Arrow schemas.

Producers (the feed, flat-file replay, the simulator's backfill, the transform) build ``pyarrow.Table``
objects with exactly these schemas and hand them to a :class:`sql.backend.Storage`; the backends append them
column for column. The ``.sql`` schema files and these schemas name the same columns in the same order; a
test holds them together.

A column added to a table after files were created goes last, so that ``ALTER TABLE ... ADD COLUMN`` (a numbered
schema file after the ``CREATE TABLE``) gives existing tables the same column order. ``market_data.correction``
is such a column: Polygon's trade correction indicator (0 a regular trade; other values mark corrected,
cancelled or erroneous prints), NULL where the source has none (WebSocket trades, crypto).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from sql.backend import SignalStateRow

__all__ = [
    "BAR_LIQUIDITY_SCHEMA",
    "BAR_REALIZED_SPREAD_SCHEMA",
    "INTRADAY_PROFILE_SCHEMA",
    "LIQUIDITY_COLUMNS",
    "MODEL_PARAMS_SCHEMA",
    "QUOTES_SCHEMA",
    "SIGNALS_SCHEMA",
    "SIGNAL_STATE_SCHEMA",
    "TRADE_KEY",
    "TRADES_SCHEMA",
    "conform",
    "signal_states_table",
    "with_liquidity",
]

TRADES_SCHEMA = pa.schema(
    [
        pa.field("market", pa.string(), nullable=False),
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("ts_ns", pa.int64(), nullable=False),
        pa.field("price", pa.float64(), nullable=False),
        pa.field("size", pa.float64(), nullable=False),
        pa.field("exchange", pa.int32(), nullable=False),
        pa.field("trade_id", pa.string(), nullable=False),
        pa.field("conditions", pa.string()),
        pa.field("tape", pa.int32()),
        pa.field("sequence", pa.int64()),
        pa.field("trf_id", pa.int32()),
        pa.field("trf_ts_ns", pa.int64()),
        pa.field("received_ns", pa.int64(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("correction", pa.int32()),
    ]
)

#: Columns that identify a trade: loading the same event twice leaves one row.
TRADE_KEY = ("market", "symbol", "exchange", "trade_id", "ts_ns")

QUOTES_SCHEMA = pa.schema(
    [
        pa.field("market", pa.string(), nullable=False),
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("ts_ns", pa.int64(), nullable=False),
        pa.field("bid_price", pa.float64()),
        pa.field("bid_size", pa.float64()),
        pa.field("ask_price", pa.float64()),
        pa.field("ask_size", pa.float64()),
        pa.field("bid_exchange", pa.int32()),
        pa.field("ask_exchange", pa.int32()),
        pa.field("conditions", pa.string()),
        pa.field("sequence", pa.int64()),
        pa.field("tape", pa.int32()),
        pa.field("received_ns", pa.int64(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
    ]
)

SIGNALS_SCHEMA = pa.schema(
    [
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("bar_end_ns", pa.int64(), nullable=False),
        pa.field("bar_seconds", pa.int32(), nullable=False),
        pa.field("n_trades", pa.int64(), nullable=False),
        pa.field("volume", pa.float64(), nullable=False),
        pa.field("vwap", pa.float64()),
        pa.field("close", pa.float64(), nullable=False),
        pa.field("log_return", pa.float64()),
        pa.field("garch_sigma", pa.float64()),
        pa.field("standardized_return", pa.float64()),
        pa.field("lee_mykland_stat", pa.float64()),
        pa.field("jump_threshold", pa.float64()),
        pa.field("jump_detected", pa.bool_(), nullable=False),
        pa.field("bns_stat", pa.float64()),
        pa.field("trade_intensity_zscore", pa.float64()),
        pa.field("conditional_duration", pa.float64()),
        pa.field("acd_surprise", pa.float64()),
        pa.field("vpin", pa.float64()),
        pa.field("vpin_cdf", pa.float64()),
        pa.field("trading_signal", pa.string(), nullable=False),
        pa.field("signal_reason", pa.string(), nullable=False),
        pa.field("computed_at_ns", pa.int64(), nullable=False),
    ]
)


#: One row per bar the transform wrote since quotes were wired in (``sql/duckdb/schema/011_bar_liquidity.sql``,
#: :mod:`udx.liquidity_step`); the measures after the key, in the DDL's order.
BAR_LIQUIDITY_SCHEMA = pa.schema(
    [
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("bar_end_ns", pa.int64(), nullable=False),
        pa.field("bar_seconds", pa.int32(), nullable=False),
        pa.field("n_quotes", pa.int64(), nullable=False),
        pa.field("quoted_spread", pa.float64()),
        pa.field("effective_spread", pa.float64()),
        pa.field("buy_volume", pa.float64(), nullable=False),
        pa.field("sell_volume", pa.float64(), nullable=False),
        pa.field("signed_volume", pa.float64(), nullable=False),
        pa.field("order_imbalance", pa.float64()),
        pa.field("depth_imbalance", pa.float64()),
        pa.field("amihud", pa.float64()),
        pa.field("roll_spread", pa.float64()),
        pa.field("kyle_lambda", pa.float64()),
        pa.field("computed_at_ns", pa.int64(), nullable=False),
        pa.field("vpin_lee_ready", pa.float64()),  # added last (duckdb migrations/005)
    ]
)

#: One row per bar once its horizon has passed (``sql/duckdb/schema/013_bar_realized_spread.sql``,
#: :mod:`udx.realized_step`); ``tick_price``/``tick_sign`` carry the Lee-Ready tick state after the bar.
BAR_REALIZED_SPREAD_SCHEMA = pa.schema(
    [
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("bar_end_ns", pa.int64(), nullable=False),
        pa.field("bar_seconds", pa.int32(), nullable=False),
        pa.field("horizon_seconds", pa.int32(), nullable=False),
        pa.field("n_trades", pa.int64(), nullable=False),
        pa.field("matched_volume", pa.float64(), nullable=False),
        pa.field("realized_spread", pa.float64()),
        pa.field("price_impact", pa.float64()),
        pa.field("tick_price", pa.float64()),
        pa.field("tick_sign", pa.int32(), nullable=False),
        pa.field("computed_at_ns", pa.int64(), nullable=False),
    ]
)

#: The measure columns of :data:`BAR_LIQUIDITY_SCHEMA` that the tools add to each ``trading_signals`` row.
LIQUIDITY_COLUMNS = tuple(n for n in BAR_LIQUIDITY_SCHEMA.names[3:] if n != "computed_at_ns")


#: One row per model fit (``sql/duckdb/schema/004_model_params.sql``); ``scale`` is the internal
#: standardization of the fit (the data were divided by it), ``omega`` is in the data's own units;
#: ``fingerprint`` names the signal definitions and settings the fit was made with (migration 003).
MODEL_PARAMS_SCHEMA = pa.schema(
    [
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),
        pa.field("bar_seconds", pa.int32(), nullable=False),
        pa.field("fit_start_ns", pa.int64(), nullable=False),
        pa.field("fit_end_ns", pa.int64(), nullable=False),
        pa.field("n_obs", pa.int64(), nullable=False),
        pa.field("omega", pa.float64()),
        pa.field("alpha", pa.float64()),
        pa.field("beta", pa.float64()),
        pa.field("loglik", pa.float64()),
        pa.field("converged", pa.bool_(), nullable=False),
        pa.field("scale", pa.float64()),
        pa.field("fitted_at_ns", pa.int64(), nullable=False),
        pa.field("fingerprint", pa.string()),  # JSON of the SignalConfig fingerprint; NULL on older fits
    ]
)


#: One row per time-of-day bucket of each intraday volatility profile the transform estimated
#: (``sql/duckdb/schema/006_intraday_profile.sql``, ``udx/seasonality.py``).
INTRADAY_PROFILE_SCHEMA = pa.schema(
    [
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("bar_seconds", pa.int32(), nullable=False),
        pa.field("session_open_ns", pa.int64(), nullable=False),
        pa.field("bucket", pa.int32(), nullable=False),
        pa.field("minutes_after_open", pa.float64(), nullable=False),
        pa.field("factor", pa.float64(), nullable=False),
        pa.field("n_obs", pa.float64(), nullable=False),
        pa.field("sessions", pa.int32(), nullable=False),
        pa.field("fallback", pa.bool_(), nullable=False),
        pa.field("computed_at_ns", pa.int64(), nullable=False),
    ]
)


#: One row per symbol and grid (``sql/duckdb/schema/005_signal_state.sql``): where the incremental transform
#: stopped and the versioned JSON of what it carries (``udx/state.py``).
SIGNAL_STATE_SCHEMA = pa.schema(
    [
        pa.field("symbol", pa.string(), nullable=False),
        pa.field("bar_seconds", pa.int32(), nullable=False),
        pa.field("last_bar_end_ns", pa.int64(), nullable=False),
        pa.field("state", pa.string(), nullable=False),
        pa.field("updated_ns", pa.int64(), nullable=False),
    ]
)


def signal_states_table(states: Sequence[SignalStateRow], updated_ns: int) -> pa.Table:
    """Return ``states`` as one Arrow table of :data:`sql.contract.SIGNAL_STATE_SCHEMA`, stamped ``updated_ns``.

    Parameters
    ----------
    states : sequence of SignalStateRow
        The states of one signals commit.
    updated_ns : int
        Commit time, nanoseconds since the epoch.

    Returns
    -------
    pyarrow.Table
        One row per state, in the order given.
    """
    return pa.table(
        {
            "symbol": [s.symbol for s in states],
            "bar_seconds": [s.bar_seconds for s in states],
            "last_bar_end_ns": [s.last_bar_end_ns for s in states],
            "state": [s.state for s in states],
            "updated_ns": [updated_ns] * len(states),
        },
        schema=SIGNAL_STATE_SCHEMA,
    )


def conform(batch: pa.Table, schema: pa.Schema) -> pa.Table:
    """Return ``batch`` with exactly the columns of ``schema``, in its order and types."""
    return batch if batch.schema == schema else batch.select(schema.names).cast(schema)


_BAR_KEY = ["symbol", "bar_seconds", "bar_end_ns"]


def with_liquidity(signals: pa.Table, liquidity: pa.Table | None) -> pa.Table:
    """Return ``signals`` with the :data:`LIQUIDITY_COLUMNS` of the ``liquidity`` row of the same bar after its
    own columns (NULL where it has none), as the tools' queries join ``bar_liquidity`` to ``trading_signals``.

    Parameters
    ----------
    signals : pyarrow.Table
        ``trading_signals`` rows.
    liquidity : pyarrow.Table or None
        ``bar_liquidity`` rows (:data:`BAR_LIQUIDITY_SCHEMA`), at most one per bar.

    Returns
    -------
    pyarrow.Table
        The rows of ``signals`` in their order, each with the measures of its bar.
    """
    measures = [BAR_LIQUIDITY_SCHEMA.field(name) for name in LIQUIDITY_COLUMNS]
    if liquidity is None or liquidity.num_rows == 0 or signals.num_rows == 0:
        out = signals
        for f in measures:
            out = out.append_column(f.name, pa.nulls(signals.num_rows, f.type))
        return out
    position = pa.array(range(signals.num_rows), pa.int64())
    keyed = signals.select(_BAR_KEY).append_column("__row", position)
    joined = keyed.join(liquidity.select(_BAR_KEY + list(LIQUIDITY_COLUMNS)), _BAR_KEY, join_type="left outer")
    joined = joined.sort_by("__row")
    out = signals
    for f in measures:
        out = out.append_column(f.name, joined.column(f.name).cast(f.type))
    return out
