-- name: due_quotes
-- params: before_ns, bar_seconds
-- returns: market, day, symbol, n_rows, first_ns, last_ns, final: every (market, UTC date, symbol) partition of
-- quotes before before_ns; final when the transform's watermark (signal_state.last_bar_end_ns on the grid) is past
-- the partition's newest row, so its signals are final (a symbol without state is not final), and the
-- realized-spread step has read past it (as due_market_data: its newest bar_realized_spread row on the grid ends
-- after the partition's newest row, or the symbol has no live bar on the grid)
SELECT
    d.market,
    d.day,
    d.symbol,
    d.n_rows,
    d.first_ns,
    d.last_ns,
    coalesce(s.last_bar_end_ns > d.last_ns, false)
        AND (g.symbol IS NULL OR coalesce(r.last_ns > d.last_ns, false)) AS final
FROM (
    SELECT market, CAST(make_timestamp(ts_ns // 1000) AS DATE) AS day, symbol, count(*) AS n_rows,
           min(ts_ns) AS first_ns, max(ts_ns) AS last_ns
    FROM quotes
    WHERE ts_ns < $before_ns
    GROUP BY ALL
) AS d
LEFT JOIN signal_state AS s ON s.symbol = d.symbol AND s.bar_seconds = $bar_seconds
LEFT JOIN (
    SELECT symbol, max(bar_end_ns) AS last_ns FROM bar_realized_spread WHERE bar_seconds = $bar_seconds GROUP BY symbol
) AS r ON r.symbol = d.symbol
LEFT JOIN (SELECT DISTINCT symbol FROM trading_signals WHERE bar_seconds = $bar_seconds) AS g ON g.symbol = d.symbol
ORDER BY d.market, d.day, d.symbol;
