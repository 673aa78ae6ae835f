-- name: market_data
-- One row per trade. Times are INTEGER (64-bit) nanoseconds since the Unix epoch, UTC.
-- Vertica does not enforce the dedupe key (market, symbol, exchange, trade_id, ts_ns) by default; the loader
-- keeps it: COPY into market_data_stage, then insert_trades adds only keys not stored yet (sql/vertica_backend.py).
-- Projection: sorted by symbol, ts_ns (every read is one symbol over a time range), segmented by symbol so one
-- symbol's trades live on one node (the UDx partition PARTITION BY symbol needs no reshuffle). Partitioned by
-- the UTC day of ts_ns; CALENDAR_HIERARCHY_DAY keeps the last 2 months as days, then months, then years.
CREATE TABLE IF NOT EXISTS market_data (
    market      VARCHAR(8)   NOT NULL,           -- stocks | crypto
    symbol      VARCHAR(32)  NOT NULL,
    ts_ns       INTEGER      NOT NULL,           -- SIP (stocks) or exchange (crypto) timestamp
    price       FLOAT        NOT NULL,
    size        FLOAT        NOT NULL,           -- crypto sizes are fractional
    exchange    INTEGER      NOT NULL,
    trade_id    VARCHAR(64)  NOT NULL,
    conditions  VARCHAR(256),                    -- comma-separated condition codes, as in Polygon flat files
    tape        INTEGER,
    sequence    INTEGER,
    trf_id      INTEGER,
    trf_ts_ns   INTEGER,
    received_ns INTEGER      NOT NULL,           -- when the loader received the event
    source      VARCHAR(8)   NOT NULL,           -- ws | replay | sim
    correction  INTEGER                          -- Polygon's correction indicator (0 = regular); NULL when the
                                                 -- source has none, e.g. WebSocket trades. Added last: tables
                                                 -- created before it get it from 006_market_data_correction.sql
)
ORDER BY symbol, ts_ns
SEGMENTED BY HASH(symbol) ALL NODES
PARTITION BY TIMESTAMPADD('microsecond', ts_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE
GROUP BY CALENDAR_HIERARCHY_DAY(TIMESTAMPADD('microsecond', ts_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE, 2, 2);
