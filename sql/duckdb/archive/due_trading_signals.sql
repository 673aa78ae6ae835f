-- name: due_trading_signals
-- params: before_ns, bar_seconds
-- returns: market, day, symbol, n_rows, first_ns, last_ns, final: every (market, UTC date of bar_end_ns, symbol)
-- partition of trading_signals before before_ns; a stored bar is final, and the partition leaves once its day's
-- daily_metrics row on the grid is written (or it holds no bar of the grid) and every bar of the grid it holds has
-- its bar_realized_spread row (the symbol's newest row ends at or after its newest bar: a row is due H after its
-- bar's end, and insert_bar_realized_spread writes none for a bar no longer live). The market of a symbol comes
-- from its trades, live or archived ('unknown' without any)
WITH markets AS (
    SELECT symbol, min(market) AS market FROM (
        SELECT DISTINCT market, symbol FROM market_data
        UNION SELECT DISTINCT market, symbol FROM archive_manifest WHERE table_name = 'trades'
    ) GROUP BY symbol
)
SELECT
    coalesce(m.market, 'unknown') AS market,
    CAST(make_timestamp(t.bar_end_ns // 1000) AS DATE) AS day,
    t.symbol,
    count(*) AS n_rows,
    min(t.bar_end_ns) AS first_ns,
    max(t.bar_end_ns) AS last_ns,
    (bool_and(t.bar_seconds <> $bar_seconds) OR bool_or(dm.symbol IS NOT NULL))
        AND coalesce(max(t.bar_end_ns) FILTER (WHERE t.bar_seconds = $bar_seconds) <= coalesce(max(r.last_ns), -1),
                     true) AS final
FROM trading_signals AS t
LEFT JOIN markets AS m ON m.symbol = t.symbol
LEFT JOIN daily_metrics AS dm
    ON dm.symbol = t.symbol AND dm.bar_seconds = t.bar_seconds
   AND dm.session_date = CAST(make_timestamp(t.bar_end_ns // 1000) AS DATE)
LEFT JOIN (
    SELECT symbol, max(bar_end_ns) AS last_ns FROM bar_realized_spread WHERE bar_seconds = $bar_seconds GROUP BY symbol
) AS r ON r.symbol = t.symbol
WHERE t.bar_end_ns < $before_ns
GROUP BY ALL
ORDER BY 1, 2, 3;
