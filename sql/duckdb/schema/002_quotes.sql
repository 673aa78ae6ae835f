-- name: quotes
-- One row per top-of-book quote (stocks Q, crypto XQ).
CREATE TABLE IF NOT EXISTS quotes (
    market       VARCHAR NOT NULL,
    symbol       VARCHAR NOT NULL,
    ts_ns        BIGINT  NOT NULL,
    bid_price    DOUBLE,
    bid_size     DOUBLE,
    ask_price    DOUBLE,
    ask_size     DOUBLE,
    bid_exchange INTEGER,
    ask_exchange INTEGER,
    conditions   VARCHAR,
    sequence     BIGINT,
    tape         INTEGER,
    received_ns  BIGINT  NOT NULL,
    source       VARCHAR NOT NULL
);
