-- name: bar_realized_spread
-- Per-bar realized spread and price impact at the horizon LIQUIDITY_HORIZON_SECONDS (udx/realized.py,
-- udx/realized_step.py): one row per trading_signals bar, written once by the transform when its watermark is
-- horizon_seconds past the bar's end (the quotes through bar_end + H are in), and never changed after; key
-- (symbol, bar_seconds, bar_end_ns) like bar_liquidity, kept by its only writer (insert_bar_realized_spread
-- skips a key already stored). A recompute of the symbol's signals (reset/rewind) deletes its rows with the
-- bars'; a changed horizon deletes the rows of the old one. tick_price and tick_sign are the Lee-Ready tick state
-- after the bar: the next run resumes from the symbol's newest row.
CREATE TABLE IF NOT EXISTS bar_realized_spread (
    symbol           VARCHAR NOT NULL,
    bar_end_ns       BIGINT  NOT NULL,   -- exclusive end of the bar, as in trading_signals
    bar_seconds      INTEGER NOT NULL,
    horizon_seconds  INTEGER NOT NULL,   -- H
    n_trades         BIGINT  NOT NULL,   -- trades of the bar with a side, a usable quote at t and at t + H, size > 0
    matched_volume   DOUBLE  NOT NULL,   -- their size (the weights)
    realized_spread  DOUBLE,             -- size-weighted 2 q (p - m[t+H]) / m[t]
    price_impact     DOUBLE,             -- size-weighted 2 q (m[t+H] - m[t]) / m[t]; realized + impact = signed effective
    tick_price       DOUBLE,             -- last print price after the bar (Lee-Ready tick state; NULL: none yet)
    tick_sign        INTEGER NOT NULL,   -- sign of the last non-zero price change after the bar (0: none yet)
    computed_at_ns   BIGINT  NOT NULL
);
