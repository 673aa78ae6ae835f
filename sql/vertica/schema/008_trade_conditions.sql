-- name: trade_conditions
-- Polygon's stock trade conditions and their consolidated processing rules, shipped with the code
-- (sql/reference/polygon_stock_trade_conditions.csv, sql/conditions.py) and reloaded by apply_schema.
CREATE TABLE IF NOT EXISTS trade_conditions (
    code             INTEGER      NOT NULL,
    name             VARCHAR(128) NOT NULL,
    updates_last     BOOLEAN      NOT NULL,
    updates_high_low BOOLEAN      NOT NULL,
    updates_volume   BOOLEAN      NOT NULL
)
ORDER BY code
UNSEGMENTED ALL NODES;
