-- name: real_time_data
-- params: symbols, bar_seconds, now_ns, row_limit
-- returns: per symbol: the newest signal row with its bar_liquidity measures and bar_realized_spread values (NULL until the bar's horizon has passed), the last trade and how old both are
-- signal_state holds each symbol's newest bar end, so the newest row is a key lookup, and the last trade is
-- searched only after it (partition pruning and the symbol, ts_ns sort order skip the rest). DuckDB's
-- arg_max(price, ts_ns) is the top-1 row per symbol here; trades sharing the newest ts_ns are decided by the
-- rest of trades_range's key (DuckDB's arg_max takes any one of them).
WITH newest AS (
    SELECT
        s.symbol, s.bar_end_ns, s.bar_seconds, s.n_trades, s.volume, s.vwap, s.close, s.log_return,
        s.garch_sigma, s.standardized_return, s.lee_mykland_stat, s.jump_threshold, s.jump_detected, s.bns_stat,
        s.trade_intensity_zscore, s.conditional_duration, s.acd_surprise, s.vpin, s.vpin_cdf, s.trading_signal,
        s.signal_reason, s.computed_at_ns
    FROM signal_state AS st
    JOIN trading_signals AS s
      ON s.symbol = st.symbol AND s.bar_seconds = st.bar_seconds AND s.bar_end_ns = st.last_bar_end_ns
    WHERE st.bar_seconds = :bar_seconds
      AND (:symbols IS NULL OR CONTAINS((:symbols)::ARRAY[VARCHAR(32)], st.symbol))
),
last_trades AS (
    SELECT symbol, price AS last_price, size AS last_size, ts_ns AS last_trade_ns
    FROM market_data
    WHERE ts_ns >= (SELECT MIN(bar_end_ns) FROM newest) - CAST(:bar_seconds AS INTEGER) * 1000000000
      AND symbol IN (SELECT symbol FROM newest)
    LIMIT 1 OVER (PARTITION BY symbol
                 ORDER BY ts_ns DESC, COALESCE(sequence, 9223372036854775807) DESC, exchange DESC, trade_id DESC)
)
SELECT
    n.symbol, n.bar_end_ns, n.bar_seconds, n.n_trades, n.volume, n.vwap, n.close, n.log_return, n.garch_sigma,
    n.standardized_return, n.lee_mykland_stat, n.jump_threshold, n.jump_detected, n.bns_stat,
    n.trade_intensity_zscore, n.conditional_duration, n.acd_surprise, n.vpin, n.vpin_cdf, n.trading_signal,
    n.signal_reason, n.computed_at_ns,
    l.n_quotes, l.quoted_spread, l.effective_spread, l.buy_volume, l.sell_volume, l.signed_volume,
    l.order_imbalance, l.depth_imbalance, l.amihud, l.roll_spread, l.kyle_lambda, l.vpin_lee_ready,
    r.horizon_seconds, r.realized_spread, r.price_impact,
    TIMESTAMPADD('microsecond', n.bar_end_ns // 1000, TIMESTAMP '1970-01-01 00:00:00') AS bar_end,
    t.last_price,
    t.last_size,
    t.last_trade_ns,
    TIMESTAMPADD('microsecond', t.last_trade_ns // 1000, TIMESTAMP '1970-01-01 00:00:00') AS last_trade,
    (:now_ns - t.last_trade_ns) / 1e9::FLOAT AS trade_age_seconds,
    (:now_ns - n.bar_end_ns) / 1e9::FLOAT AS signal_age_seconds
FROM newest AS n
LEFT OUTER JOIN bar_liquidity AS l
  ON l.symbol = n.symbol AND l.bar_seconds = n.bar_seconds AND l.bar_end_ns = n.bar_end_ns
LEFT OUTER JOIN bar_realized_spread AS r
  ON r.symbol = n.symbol AND r.bar_seconds = n.bar_seconds AND r.bar_end_ns = n.bar_end_ns
LEFT OUTER JOIN last_trades AS t ON t.symbol = n.symbol
ORDER BY n.symbol
LIMIT :row_limit;
