-- name: market_data_stage
-- Session-local landing table of one append: COPY ... FROM STDIN fills it, insert_trades moves the new keys
-- into market_data, COMMIT empties it (ON COMMIT DELETE ROWS). Created once per pooled connection.
CREATE LOCAL TEMPORARY TABLE IF NOT EXISTS market_data_stage (
    market      VARCHAR(8)   NOT NULL,
    symbol      VARCHAR(32)  NOT NULL,
    ts_ns       INTEGER      NOT NULL,
    price       FLOAT        NOT NULL,
    size        FLOAT        NOT NULL,
    exchange    INTEGER      NOT NULL,
    trade_id    VARCHAR(64)  NOT NULL,
    conditions  VARCHAR(256),
    tape        INTEGER,
    sequence    INTEGER,
    trf_id      INTEGER,
    trf_ts_ns   INTEGER,
    received_ns INTEGER      NOT NULL,
    source      VARCHAR(8)   NOT NULL,
    correction  INTEGER
) ON COMMIT DELETE ROWS;
