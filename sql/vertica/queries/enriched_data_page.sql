-- name: enriched_data_page
-- params: symbol, start_ns, end_ns, bar_seconds, after_ts_ns, after_exchange, after_trade_id, row_limit
-- returns: trades of one symbol with their quotes, sides and signals, newest first; keyset cursor (ts_ns, exchange, trade_id)
-- The row comparison (ts_ns, exchange, trade_id) < (...) of the DuckDB file, spelled out. The server binds the page's
-- own span, found first by enriched_data_page_span (server/tools/page_span.py), as on DuckDB: the same rows.
SELECT
    market, symbol, ts_ns, ts, price, size, exchange, trade_id, conditions, correction, sets_price, counts_volume, received_ns,
    source, bid_price, ask_price, trade_side, quote_flags, effective_spread, bar_seconds,
    signal_bar_end_ns, bar_close, bar_vwap, log_return, garch_sigma, standardized_return, lee_mykland_stat,
    jump_threshold, jump_detected, bns_stat, trade_intensity_zscore, conditional_duration, acd_surprise, vpin,
    vpin_cdf, trading_signal, signal_reason
FROM enriched_market_data
WHERE symbol = :symbol
  AND ts_ns >= :start_ns AND ts_ns < :end_ns
  AND (bar_seconds = :bar_seconds OR bar_seconds IS NULL)
  AND (:after_ts_ns IS NULL
       OR ts_ns < :after_ts_ns
       OR (ts_ns = :after_ts_ns
           AND (exchange < :after_exchange OR (exchange = :after_exchange AND trade_id < :after_trade_id))))
ORDER BY ts_ns DESC, exchange DESC, trade_id DESC
LIMIT :row_limit;
