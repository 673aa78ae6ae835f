-- name: bar_realized_spread
-- Per-bar realized spread and price impact at a horizon; same columns as
-- sql/duckdb/schema/013_bar_realized_spread.sql. Key (symbol, bar_seconds, bar_end_ns), declared, not enforced.
CREATE TABLE IF NOT EXISTS bar_realized_spread (
    symbol           VARCHAR(32) NOT NULL,
    bar_end_ns       INTEGER     NOT NULL,
    bar_seconds      INTEGER     NOT NULL,
    horizon_seconds  INTEGER     NOT NULL,
    n_trades         INTEGER     NOT NULL,
    matched_volume   FLOAT       NOT NULL,
    realized_spread  FLOAT,
    price_impact     FLOAT,
    tick_price       FLOAT,
    tick_sign        INTEGER     NOT NULL,
    computed_at_ns   INTEGER     NOT NULL,
    CONSTRAINT bar_realized_spread_key PRIMARY KEY (symbol, bar_seconds, bar_end_ns) DISABLED
)
ORDER BY symbol, bar_seconds, bar_end_ns
SEGMENTED BY HASH(symbol) ALL NODES
PARTITION BY TIMESTAMPADD('microsecond', bar_end_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE
GROUP BY CALENDAR_HIERARCHY_DAY(TIMESTAMPADD('microsecond', bar_end_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE, 2, 2);
