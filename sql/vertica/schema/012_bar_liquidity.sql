-- name: bar_liquidity
-- Per-bar liquidity from trades and quotes; same columns as sql/duckdb/schema/011_bar_liquidity.sql. Key (symbol,
-- bar_seconds, bar_end_ns) like trading_signals, kept by upsert_bar_liquidity (MERGE); declared, not enforced.
CREATE TABLE IF NOT EXISTS bar_liquidity (
    symbol           VARCHAR(32) NOT NULL,
    bar_end_ns       INTEGER     NOT NULL,
    bar_seconds      INTEGER     NOT NULL,
    n_quotes         INTEGER     NOT NULL,
    quoted_spread    FLOAT,
    effective_spread FLOAT,
    buy_volume       FLOAT       NOT NULL,
    sell_volume      FLOAT       NOT NULL,
    signed_volume    FLOAT       NOT NULL,
    order_imbalance  FLOAT,
    depth_imbalance  FLOAT,
    amihud           FLOAT,
    roll_spread      FLOAT,
    kyle_lambda      FLOAT,
    computed_at_ns   INTEGER     NOT NULL,
    vpin_lee_ready   FLOAT,              -- added last (migrations/002), as in DuckDB
    CONSTRAINT bar_liquidity_key PRIMARY KEY (symbol, bar_seconds, bar_end_ns) DISABLED
)
ORDER BY symbol, bar_seconds, bar_end_ns
SEGMENTED BY HASH(symbol) ALL NODES
PARTITION BY TIMESTAMPADD('microsecond', bar_end_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE
GROUP BY CALENDAR_HIERARCHY_DAY(TIMESTAMPADD('microsecond', bar_end_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE, 2, 2);
