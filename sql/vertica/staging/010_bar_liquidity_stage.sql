-- name: bar_liquidity_stage
-- Session-local landing table of bar_liquidity rows before upsert_bar_liquidity merges them.
CREATE LOCAL TEMPORARY TABLE IF NOT EXISTS bar_liquidity_stage (
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
    vpin_lee_ready   FLOAT
) ON COMMIT DELETE ROWS;
