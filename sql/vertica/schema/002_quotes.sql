-- name: quotes
-- One row per top-of-book quote (stocks Q, crypto XQ). Same projection and partitioning as market_data.
CREATE TABLE IF NOT EXISTS quotes (
    market       VARCHAR(8)  NOT NULL,
    symbol       VARCHAR(32) NOT NULL,
    ts_ns        INTEGER     NOT NULL,
    bid_price    FLOAT,
    bid_size     FLOAT,
    ask_price    FLOAT,
    ask_size     FLOAT,
    bid_exchange INTEGER,
    ask_exchange INTEGER,
    conditions   VARCHAR(256),
    sequence     INTEGER,
    tape         INTEGER,
    received_ns  INTEGER     NOT NULL,
    source       VARCHAR(8)  NOT NULL
)
ORDER BY symbol, ts_ns
SEGMENTED BY HASH(symbol) ALL NODES
PARTITION BY TIMESTAMPADD('microsecond', ts_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE
GROUP BY CALENDAR_HIERARCHY_DAY(TIMESTAMPADD('microsecond', ts_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE, 2, 2);
