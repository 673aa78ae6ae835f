-- name: trade_conditions
-- Polygon's stock trade conditions and their consolidated processing rules, shipped with the code
-- (sql/reference/polygon_stock_trade_conditions.csv, sql/conditions.py) and reloaded at every start of a writer.
CREATE TABLE IF NOT EXISTS trade_conditions (
    code             INTEGER NOT NULL,   -- Polygon's numeric condition id (market_data.conditions lists them)
    name             VARCHAR NOT NULL,
    updates_last     BOOLEAN NOT NULL,   -- may set the last-sale price (open, close, returns)
    updates_high_low BOOLEAN NOT NULL,
    updates_volume   BOOLEAN NOT NULL
);
