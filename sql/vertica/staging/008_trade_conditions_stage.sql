-- name: trade_conditions_stage
-- Session-local landing table of the shipped condition rules before load_trade_conditions copies them.
CREATE LOCAL TEMPORARY TABLE IF NOT EXISTS trade_conditions_stage (
    code             INTEGER      NOT NULL,
    name             VARCHAR(128) NOT NULL,
    updates_last     BOOLEAN      NOT NULL,
    updates_high_low BOOLEAN      NOT NULL,
    updates_volume   BOOLEAN      NOT NULL
) ON COMMIT DELETE ROWS;
