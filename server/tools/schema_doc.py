"""The ``schema://views`` resource: every table and view of the storage contract with columns and meaning."""

from __future__ import annotations

from itertools import groupby

from sql.backend import Storage

__all__ = ["OBJECT_NOTES", "describe_views"]

#: One line per table or view: what a row is. The columns come from the database itself.
OBJECT_NOTES = {
    "market_data": "one row per trade; times are BIGINT ns since the epoch (UTC); dedupe key (market, symbol, "
    "exchange, trade_id, ts_ns)",
    "quotes": "one row per top-of-book quote",
    "trading_signals": "one row per symbol per completed bar [bar_end_ns - bar_seconds, bar_end_ns); key "
    "(symbol, bar_seconds, bar_end_ns)",
    "model_params": "fitted GARCH(1,1) and ACD(1,1) parameters per symbol and fit window",
    "signal_state": "where the incremental transform resumes, per symbol and grid",
    "enriched_market_data": "each trade with its prevailing quote (bid_price, ask_price: newest quote strictly "
    "before it), Lee-Ready trade_side (1 buy, -1 sell, 0 unknown), quote_flags (1 no quote, 2 stale, 4 one-sided, "
    "8 locked, 16 crossed, 32 at the midpoint, 64 tick rule alone), effective_spread, and the signals of the last "
    "bar completed before it (as-of joins). Its tick rule runs over each symbol's whole history, so a time filter "
    "does not make it cheaper: on DuckDB read the table macro enriched_market_data_between(ticker, start_ns, "
    "end_ns) instead, the same columns and rows for one symbol and window",
    "jump_events": "trading_signals rows with a Lee-Mykland jump, plus direction and threshold_ratio",
    "symbol_metrics": "per symbol per UTC day: trades, volume, VWAP, OHLC, realized variance, bipower variation, "
    "daily BNS ratio statistic, jump count, VPIN, last signal",
    "latest_signals": "the newest trading_signals row per symbol and grid",
    "intraday_profile": "the time-of-day volatility profile per symbol, grid and session, estimated at the "
    "session's start from earlier sessions only: factor per bucket (mean square one), fallback = flat",
    "eligible_trades": "market_data with what Polygon's rules let each print do: sets_price (bar closes, "
    "returns), sets_high_low, counts_volume; the signals use only prints that may",
    "trade_conditions": "Polygon's stock trade condition ids with their consolidated rules (shipped data)",
    "trade_corrections": "flat-file correction codes and whether a print with the code is kept",
    "bar_liquidity": "per symbol per bar (key as trading_signals): quotes in the bar, time-weighted quoted spread, "
    "effective spread, Lee-Ready buy/sell/signed volume, order and depth imbalance, Amihud, Roll spread, Kyle lambda",
    "bar_realized_spread": "per symbol per bar (key as trading_signals), written once when the transform's watermark "
    "is horizon_seconds (LIQUIDITY_HORIZON_SECONDS) past the bar's end: size-weighted realized_spread "
    "2q(p - m[t+H])/m[t] and price_impact 2q(m[t+H] - m[t])/m[t] over n_trades matched trades (matched_volume); "
    "tick_price/tick_sign: the Lee-Ready tick state after the bar",
    "liquidity_signals": "bar_liquidity beside its trading_signals bar's price, volume and return (bars with "
    "bar_liquidity rows only), and the bar's bar_realized_spread horizon_seconds, realized_spread, price_impact "
    "(null until its horizon has passed)",
    "quote_book": "one quote per symbol and stamp (ts_ns): of quotes sharing a stamp the last in SIP order (largest "
    "sequence, a missing one last); the as-of joins with trades read it",
    "view_settings": "the settings the views read (name, value): quote_stale_ns = QUOTE_STALE_SECONDS in ns, written "
    "by the database's writer at every start",
    "trades_all": "every trade: market_data (the live days) and the days retention moved to the Parquet archive "
    "(RETAIN_TRADES_DAYS, ARCHIVE_PATH); same columns as market_data; filter on symbol and ts_ns",
    "quotes_all": "every quote: quotes (live) and the archived days (RETAIN_QUOTES_DAYS); same columns as quotes",
    "signals_all": "every bar: trading_signals (live) and the archived days (RETAIN_SIGNALS_DAYS); same columns as "
    "trading_signals",
    "bar_liquidity_all": "every bar's liquidity: bar_liquidity (live) and the rows archived with their bars "
    "(RETAIN_SIGNALS_DAYS); same columns as bar_liquidity; join signals_all on (symbol, bar_seconds, bar_end_ns)",
    "bar_realized_spread_all": "every bar's realized spread: bar_realized_spread (live) and the rows archived with "
    "their bars (RETAIN_SIGNALS_DAYS); same columns as bar_realized_spread",
}


def describe_views(storage: Storage) -> str:
    """Return Markdown documenting every table and view of the contract, columns read from the database."""
    rows = storage.query("view_columns", {}, 1000).rows
    lines = [
        "# Tables and views",
        "",
        "Times are BIGINT nanoseconds since the Unix epoch, UTC (`*_ns`); views add TIMESTAMP columns. "
        "Filter on `symbol` and a `*_ns` range for speed.",
    ]
    for table, columns in groupby(rows, key=lambda row: row[0]):
        lines += ["", f"## {table}", "", OBJECT_NOTES.get(table, ""), ""]
        lines += [f"- `{column}` {data_type}" for _, column, data_type in columns]
    return "\n".join(lines) + "\n"
