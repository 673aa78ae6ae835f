-- name: real_time_data
-- params: symbols, bar_seconds, now_ns, row_limit
-- returns: per symbol: the newest signal row with its bar_liquidity measures and bar_realized_spread values (NULL
-- until the bar's horizon has passed), the last trade and how old both are
-- signal_state holds each symbol's newest bar end, so the newest row is a key lookup, and the last trade is
-- searched only after it (trades are stored roughly in time order, so zone maps skip the rest). The last trade is
-- the newest by (ts_ns, exchange, trade_id), unique per symbol, so that trades at the same instant give one
-- answer, the one the server's in-memory copy (server/tools/latest.py) keeps.
WITH newest AS (
    SELECT s.*
    FROM signal_state AS st
    JOIN trading_signals AS s
      ON s.symbol = st.symbol AND s.bar_seconds = st.bar_seconds AND s.bar_end_ns = st.last_bar_end_ns
    WHERE st.bar_seconds = $bar_seconds
      AND ($symbols IS NULL OR list_contains($symbols, st.symbol))
),
last_trades AS (
    SELECT symbol, arg_max(price, (ts_ns, exchange, trade_id)) AS last_price,
           arg_max(size, (ts_ns, exchange, trade_id)) AS last_size,
           max(ts_ns) AS last_trade_ns
    FROM market_data
    WHERE ts_ns >= (SELECT min(bar_end_ns) FROM newest) - CAST($bar_seconds AS BIGINT) * 1000000000
      AND symbol IN (SELECT symbol FROM newest)
    GROUP BY symbol
)
SELECT
    n.*,
    l.n_quotes, l.quoted_spread, l.effective_spread, l.buy_volume, l.sell_volume, l.signed_volume,
    l.order_imbalance, l.depth_imbalance, l.amihud, l.roll_spread, l.kyle_lambda, l.vpin_lee_ready,
    r.horizon_seconds, r.realized_spread, r.price_impact,
    make_timestamp(n.bar_end_ns // 1000) AS bar_end,
    t.last_price,
    t.last_size,
    t.last_trade_ns,
    make_timestamp(t.last_trade_ns // 1000) AS last_trade,
    ($now_ns - t.last_trade_ns) / 1e9 AS trade_age_seconds,
    ($now_ns - n.bar_end_ns) / 1e9 AS signal_age_seconds
FROM newest AS n
LEFT JOIN bar_liquidity AS l
  ON l.symbol = n.symbol AND l.bar_seconds = n.bar_seconds AND l.bar_end_ns = n.bar_end_ns
LEFT JOIN bar_realized_spread AS r
  ON r.symbol = n.symbol AND r.bar_seconds = n.bar_seconds AND r.bar_end_ns = n.bar_end_ns
LEFT JOIN last_trades AS t ON t.symbol = n.symbol
ORDER BY n.symbol
LIMIT $row_limit;
