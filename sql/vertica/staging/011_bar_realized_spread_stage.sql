-- name: bar_realized_spread_stage
-- Session-local landing table of bar_realized_spread rows before insert_bar_realized_spread adds the new ones.
CREATE LOCAL TEMPORARY TABLE IF NOT EXISTS bar_realized_spread_stage (
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
    computed_at_ns   INTEGER     NOT NULL
) ON COMMIT DELETE ROWS;
