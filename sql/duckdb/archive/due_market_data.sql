-- name: due_market_data
-- params: before_ns, bar_seconds
-- returns: market, day, symbol, n_rows, first_ns, last_ns, final: every (market, UTC date, symbol) partition of
-- market_data before before_ns; final when the transform's watermark (signal_state.last_bar_end_ns on the grid) is past
-- the partition's newest row, so its signals are final (a symbol without state is not final), and its day's
-- daily_metrics row is written (or it has no bar that day), so the day keeps its metrics once its trades leave, and
-- the realized-spread step has read past it (its newest bar_realized_spread row on the grid ends after the
-- partition's newest row; a symbol without live bars on the grid needs none): udx/realized_step.py reads live trades
SELECT
    d.market,
    d.day,
    d.symbol,
    d.n_rows,
    d.first_ns,
    d.last_ns,
    coalesce(s.last_bar_end_ns > d.last_ns, false) AND (dm.symbol IS NOT NULL OR b.symbol IS NULL)
        AND (g.symbol IS NULL OR coalesce(r.last_ns > d.last_ns, false)) AS final
FROM (
    SELECT market, CAST(make_timestamp(ts_ns // 1000) AS DATE) AS day, symbol, count(*) AS n_rows,
           min(ts_ns) AS first_ns, max(ts_ns) AS last_ns
    FROM market_data
    WHERE ts_ns < $before_ns
    GROUP BY ALL
) AS d
LEFT JOIN signal_state AS s ON s.symbol = d.symbol AND s.bar_seconds = $bar_seconds
LEFT JOIN daily_metrics AS dm ON dm.symbol = d.symbol AND dm.session_date = d.day AND dm.bar_seconds = $bar_seconds
LEFT JOIN (
    SELECT DISTINCT symbol, CAST(make_timestamp(bar_end_ns // 1000) AS DATE) AS day
    FROM trading_signals
    WHERE bar_seconds = $bar_seconds AND bar_end_ns < $before_ns
) AS b ON b.symbol = d.symbol AND b.day = d.day
LEFT JOIN (
    SELECT symbol, max(bar_end_ns) AS last_ns FROM bar_realized_spread WHERE bar_seconds = $bar_seconds GROUP BY symbol
) AS r ON r.symbol = d.symbol
LEFT JOIN (SELECT DISTINCT symbol FROM trading_signals WHERE bar_seconds = $bar_seconds) AS g ON g.symbol = d.symbol
ORDER BY d.market, d.day, d.symbol;
