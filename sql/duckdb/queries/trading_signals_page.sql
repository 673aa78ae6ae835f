-- name: trading_signals_page
-- params: symbols, signal_type, start_ns, end_ns, bar_seconds, after_bar_end_ns, after_symbol, row_limit
-- returns: trading_signals rows with their bar_liquidity measures and bar_realized_spread values (NULL until the
-- bar's horizon has passed), newest first; keyset cursor (bar_end_ns, symbol)
-- Several or all symbols (one symbol: trading_signals_symbol_page). Late materialisation: the page's keys
-- are chosen reading only the key and filter columns, then only those rows are read whole (every row group
-- holds the newest bars of its symbols, so the first step reads one narrow column of every row group). The
-- second step repeats the window's bounds: implied by the page, but they let the zone maps skip row groups
-- when the window is narrow (server/tools/recent_window.py).
WITH page AS (
    SELECT symbol, bar_end_ns
    FROM trading_signals
    WHERE ($symbols IS NULL OR list_contains($symbols, symbol))
      AND bar_seconds = $bar_seconds
      AND bar_end_ns >= $start_ns AND bar_end_ns < $end_ns
      AND ($signal_type IS NULL OR trading_signal = $signal_type)
      AND ($after_bar_end_ns IS NULL OR (bar_end_ns, symbol) < ($after_bar_end_ns, $after_symbol))
    ORDER BY bar_end_ns DESC, symbol DESC
    LIMIT $row_limit
),
liquidity AS (  -- the page's bar_liquidity rows, found the same way (NULL measures for bars without one)
    SELECT l.*
    FROM bar_liquidity AS l
    SEMI JOIN page ON l.symbol = page.symbol AND l.bar_end_ns = page.bar_end_ns
    WHERE l.bar_seconds = $bar_seconds
      AND l.bar_end_ns >= (SELECT min(bar_end_ns) FROM page)
      AND l.bar_end_ns <= (SELECT max(bar_end_ns) FROM page)
),
realized AS (  -- the page's bar_realized_spread rows, found the same way (NULL until a bar's horizon has passed)
    SELECT r.*
    FROM bar_realized_spread AS r
    SEMI JOIN page ON r.symbol = page.symbol AND r.bar_end_ns = page.bar_end_ns
    WHERE r.bar_seconds = $bar_seconds
      AND r.bar_end_ns >= (SELECT min(bar_end_ns) FROM page)
      AND r.bar_end_ns <= (SELECT max(bar_end_ns) FROM page)
)
SELECT s.*,
       l.n_quotes, l.quoted_spread, l.effective_spread, l.buy_volume, l.sell_volume, l.signed_volume,
       l.order_imbalance, l.depth_imbalance, l.amihud, l.roll_spread, l.kyle_lambda, l.vpin_lee_ready,
       r.horizon_seconds, r.realized_spread, r.price_impact,
       make_timestamp(s.bar_end_ns // 1000) AS bar_end
FROM trading_signals AS s
SEMI JOIN page ON s.symbol = page.symbol AND s.bar_end_ns = page.bar_end_ns
LEFT JOIN liquidity AS l ON l.symbol = s.symbol AND l.bar_end_ns = s.bar_end_ns
LEFT JOIN realized AS r ON r.symbol = s.symbol AND r.bar_end_ns = s.bar_end_ns
WHERE s.bar_seconds = $bar_seconds
  AND s.bar_end_ns >= $start_ns AND s.bar_end_ns < $end_ns
  AND s.bar_end_ns >= (SELECT min(bar_end_ns) FROM page)
  AND s.bar_end_ns <= (SELECT max(bar_end_ns) FROM page)
ORDER BY s.bar_end_ns DESC, s.symbol DESC;
