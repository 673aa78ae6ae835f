-- name: due_market_data
-- params: before_ns, bar_seconds
-- returns: market, day, symbol, n_rows, first_ns, last_ns, final: every (market, UTC date, symbol) partition of
-- market_data before before_ns; final when the transform's watermark (signal_state.last_bar_end_ns on the grid) is past
-- the partition's newest row, so its signals are final (a symbol without state is not final)
SELECT
    d.market,
    d.day,
    d.symbol,
    d.n_rows,
    d.first_ns,
    d.last_ns,
    coalesce(s.last_bar_end_ns > d.last_ns, false) AS final
FROM (
    SELECT market, CAST(make_timestamp(ts_ns // 1000) AS DATE) AS day, symbol, count(*) AS n_rows,
           min(ts_ns) AS first_ns, max(ts_ns) AS last_ns
    FROM market_data
    WHERE ts_ns < $before_ns
    GROUP BY ALL
) AS d
LEFT JOIN signal_state AS s ON s.symbol = d.symbol AND s.bar_seconds = $bar_seconds
ORDER BY d.market, d.day, d.symbol;
