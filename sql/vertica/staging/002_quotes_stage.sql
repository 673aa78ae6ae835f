-- name: quotes_stage
-- Session-local landing table of one quotes append (see market_data_stage).
CREATE LOCAL TEMPORARY TABLE IF NOT EXISTS quotes_stage (
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
) ON COMMIT DELETE ROWS;
