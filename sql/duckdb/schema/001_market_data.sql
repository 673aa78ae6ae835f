-- name: market_data
-- One row per trade. Times are BIGINT nanoseconds since the Unix epoch, UTC.
-- The primary key is the dedupe key of DESIGN §5: loading the same event twice leaves one row.
CREATE TABLE IF NOT EXISTS market_data (
    market      VARCHAR NOT NULL,            -- stocks | crypto
    symbol      VARCHAR NOT NULL,
    ts_ns       BIGINT  NOT NULL,            -- SIP (stocks) or exchange (crypto) timestamp
    price       DOUBLE  NOT NULL,
    size        DOUBLE  NOT NULL,            -- crypto sizes are fractional
    exchange    INTEGER NOT NULL,
    trade_id    VARCHAR NOT NULL,
    conditions  VARCHAR,                     -- comma-separated condition codes, as in Polygon flat files
    tape        INTEGER,
    sequence    BIGINT,
    trf_id      INTEGER,
    trf_ts_ns   BIGINT,
    received_ns BIGINT  NOT NULL,            -- when this process received the event
    source      VARCHAR NOT NULL,            -- ws | replay | sim
    PRIMARY KEY (market, symbol, exchange, trade_id, ts_ns)
);
