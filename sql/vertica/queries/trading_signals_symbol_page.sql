-- name: trading_signals_symbol_page
-- params: symbol, signal_type, start_ns, end_ns, bar_seconds, after_bar_end_ns, after_symbol, row_limit
-- returns: trading_signals rows with their bar_liquidity measures and bar_realized_spread values (NULL until the bar's horizon has passed) of one symbol, newest first; keyset cursor (bar_end_ns, symbol)
SELECT
    s.symbol, s.bar_end_ns, s.bar_seconds, s.n_trades, s.volume, s.vwap, s.close, s.log_return, s.garch_sigma,
    s.standardized_return, s.lee_mykland_stat, s.jump_threshold, s.jump_detected, s.bns_stat,
    s.trade_intensity_zscore, s.conditional_duration, s.acd_surprise, s.vpin, s.vpin_cdf, s.trading_signal,
    s.signal_reason, s.computed_at_ns,
    l.n_quotes, l.quoted_spread, l.effective_spread, l.buy_volume, l.sell_volume, l.signed_volume,
    l.order_imbalance, l.depth_imbalance, l.amihud, l.roll_spread, l.kyle_lambda, l.vpin_lee_ready,
    r.horizon_seconds, r.realized_spread, r.price_impact,
    TIMESTAMPADD('microsecond', s.bar_end_ns // 1000, TIMESTAMP '1970-01-01 00:00:00') AS bar_end
FROM trading_signals AS s
LEFT OUTER JOIN bar_liquidity AS l
  ON l.symbol = s.symbol AND l.bar_seconds = s.bar_seconds AND l.bar_end_ns = s.bar_end_ns
LEFT OUTER JOIN bar_realized_spread AS r
  ON r.symbol = s.symbol AND r.bar_seconds = s.bar_seconds AND r.bar_end_ns = s.bar_end_ns
WHERE s.symbol = :symbol
  AND (:signal_type IS NULL OR s.trading_signal = :signal_type)
  AND s.bar_end_ns >= :start_ns AND s.bar_end_ns < :end_ns
  AND s.bar_seconds = :bar_seconds
  AND (:after_bar_end_ns IS NULL
       OR s.bar_end_ns < :after_bar_end_ns
       OR (s.bar_end_ns = :after_bar_end_ns AND s.symbol < :after_symbol))
ORDER BY s.bar_end_ns DESC, s.symbol DESC
LIMIT :row_limit;
