-- name: bar_liquidity
-- Per-bar liquidity from trades and quotes (udx/liquidity.py, udx/impact.py), one row per trading_signals bar
-- the transform wrote since quotes were wired in, in the same transaction; key (symbol, bar_seconds, bar_end_ns)
-- like trading_signals, kept by its only writer (upsert_bar_liquidity deletes a recomputed bar first). A symbol
-- without quotes has n_quotes 0 and NULL quote measures; its volumes are signed by the tick rule (so is its
-- vpin_lee_ready).
CREATE TABLE IF NOT EXISTS bar_liquidity (
    symbol           VARCHAR NOT NULL,
    bar_end_ns       BIGINT  NOT NULL,   -- exclusive end of the bar, as in trading_signals
    bar_seconds      INTEGER NOT NULL,
    n_quotes         BIGINT  NOT NULL,   -- quotes stamped inside the bar
    quoted_spread    DOUBLE,             -- time-weighted (ask - bid) / mid of the usable NBBO in force
    effective_spread DOUBLE,             -- volume-weighted 2 |p - mid| / mid of trades with a usable prevailing quote
    buy_volume       DOUBLE  NOT NULL,   -- size of trades signed +1 by Lee-Ready
    sell_volume      DOUBLE  NOT NULL,   -- size of trades signed -1
    signed_volume    DOUBLE  NOT NULL,   -- buy_volume - sell_volume
    order_imbalance  DOUBLE,             -- (buy - sell) / (buy + sell)
    depth_imbalance  DOUBLE,             -- time-weighted (bid_size - ask_size) / (bid_size + ask_size)
    amihud           DOUBLE,             -- |log_return| / dollar volume (per dollar)
    roll_spread      DOUBLE,             -- 2 sqrt(-cov(dp_t, dp_t-1)) over ROLL_WINDOW trade-price changes, price units
    kyle_lambda      DOUBLE,             -- OLS slope of bar returns on signed dollar volume over KYLE_WINDOW bars
    computed_at_ns   BIGINT  NOT NULL,
    vpin_lee_ready   DOUBLE              -- VPIN of trades signed by Lee-Ready in the BVC VPIN's buckets (added last:
                                         -- migrations/005); NULL before n buckets or for bars written before it
);
