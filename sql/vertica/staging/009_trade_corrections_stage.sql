-- name: trade_corrections_stage
-- Session-local landing table of the shipped correction codes before load_trade_corrections copies them.
CREATE LOCAL TEMPORARY TABLE IF NOT EXISTS trade_corrections_stage (
    code INTEGER NOT NULL,
    kept BOOLEAN NOT NULL
) ON COMMIT DELETE ROWS;
