-- name: realized_spread_due
-- params: bar_seconds, until_ns
-- returns: symbol, bar_end_ns of every trading_signals bar ending at or before until_ns (the watermark minus the
-- horizon) after the symbol's newest bar_realized_spread row, by symbol, each in time order (as the DuckDB twin)
SELECT s.symbol, s.bar_end_ns
FROM trading_signals AS s
LEFT JOIN (
    SELECT symbol, MAX(bar_end_ns) AS last_ns
    FROM bar_realized_spread
    WHERE bar_seconds = :bar_seconds
    GROUP BY symbol
) AS d ON d.symbol = s.symbol
WHERE s.bar_seconds = :bar_seconds AND s.bar_end_ns <= :until_ns AND s.bar_end_ns > COALESCE(d.last_ns, -1)
ORDER BY s.symbol, s.bar_end_ns;
