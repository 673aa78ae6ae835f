-- name: latest_signals
-- returns: the newest trading_signals row of every symbol on every grid
CREATE OR REPLACE VIEW latest_signals AS
SELECT
    *,
    make_timestamp(bar_end_ns // 1000) AS bar_end
FROM trading_signals
QUALIFY row_number() OVER (PARTITION BY symbol, bar_seconds ORDER BY bar_end_ns DESC) = 1;
