-- name: trade_corrections
-- Flat-file correction codes (sql/reference/polygon_trade_corrections.csv); a print whose code is not kept is left
-- out of every statistic. NULL (WebSocket) = regular.
CREATE TABLE IF NOT EXISTS trade_corrections (
    code INTEGER NOT NULL,
    kept BOOLEAN NOT NULL
)
ORDER BY code
UNSEGMENTED ALL NODES;
