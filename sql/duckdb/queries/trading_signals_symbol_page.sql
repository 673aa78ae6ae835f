-- name: trading_signals_symbol_page
-- params: symbol, signal_type, start_ns, end_ns, bar_seconds, after_bar_end_ns, after_symbol, row_limit
-- returns: trading_signals rows of one symbol with their bar_liquidity measures and bar_realized_spread values
-- (NULL until the bar's horizon has passed), newest first; keyset cursor (bar_end_ns, symbol)
-- The one-symbol case of trading_signals_page with plain predicates on the key columns: trading_signals is
-- written symbol by symbol, so the zone maps of symbol skip every row group but the symbol's own.
-- The page's bar_liquidity and bar_realized_spread rows are joined after its LIMIT (NULL for bars without one).
WITH page AS (
    SELECT *
    FROM trading_signals
    WHERE symbol = $symbol
      AND bar_seconds = $bar_seconds
      AND bar_end_ns >= $start_ns AND bar_end_ns < $end_ns
      AND ($signal_type IS NULL OR trading_signal = $signal_type)
      AND ($after_bar_end_ns IS NULL OR (bar_end_ns, symbol) < ($after_bar_end_ns, $after_symbol))
    ORDER BY bar_end_ns DESC, symbol DESC
    LIMIT $row_limit
),
liquidity AS (
    SELECT *
    FROM bar_liquidity
    WHERE symbol = $symbol AND bar_seconds = $bar_seconds
      AND bar_end_ns >= (SELECT min(bar_end_ns) FROM page) AND bar_end_ns <= (SELECT max(bar_end_ns) FROM page)
),
realized AS (
    SELECT *
    FROM bar_realized_spread
    WHERE symbol = $symbol AND bar_seconds = $bar_seconds
      AND bar_end_ns >= (SELECT min(bar_end_ns) FROM page) AND bar_end_ns <= (SELECT max(bar_end_ns) FROM page)
)
SELECT s.*,
       l.n_quotes, l.quoted_spread, l.effective_spread, l.buy_volume, l.sell_volume, l.signed_volume,
       l.order_imbalance, l.depth_imbalance, l.amihud, l.roll_spread, l.kyle_lambda, l.vpin_lee_ready,
       r.horizon_seconds, r.realized_spread, r.price_impact,
       make_timestamp(s.bar_end_ns // 1000) AS bar_end
FROM page AS s
LEFT JOIN liquidity AS l ON l.bar_end_ns = s.bar_end_ns
LEFT JOIN realized AS r ON r.bar_end_ns = s.bar_end_ns
ORDER BY s.bar_end_ns DESC, s.symbol DESC;
