-- name: udx_signals_to_stage
-- params: settings, market, bar_seconds, watermark_ns, computed_at_ns
-- returns: rows staged: every newly final bar of every symbol of one market, computed inside Vertica
-- Incremental by signal_state: each symbol's trades and quotes from the end of its last written bar (or all of
-- them) up to the watermark go to one batch_microstructure partition (a UDx cannot read tables: the quotes ride in
-- the partition, price NULL), trades ordered as trades_range orders them and quotes as quotes_range_symbols; the
-- stored state rides on the partition's first row only (it can be tens of kB). The UDx (udx/vertica_udx.py) runs
-- udx.transform.run_transform on the partition, so the rows and their bar liquidity equal those of the
-- client-side transform.
INSERT INTO trading_signals_stage (
    symbol, bar_end_ns, bar_seconds, n_trades, volume, vwap, close, log_return, garch_sigma,
    standardized_return, lee_mykland_stat, jump_threshold, jump_detected, bns_stat, trade_intensity_zscore,
    conditional_duration, acd_surprise, vpin, vpin_cdf, trading_signal, signal_reason, computed_at_ns,
    n_quotes, quoted_spread, effective_spread, buy_volume, sell_volume, signed_volume, order_imbalance,
    depth_imbalance, amihud, roll_spread, kyle_lambda, vpin_lee_ready, state, model_params, intraday_profile
)
SELECT batch_microstructure(p.ts_ns, p.price, p.size, p.conditions, p.correction, p.symbol, p.state,
                            p.bid_price, p.bid_size, p.ask_price, p.ask_size
                            USING PARAMETERS settings = :settings, market = :market,
                                             watermark_ns = :watermark_ns, computed_at_ns = :computed_at_ns)
       OVER (PARTITION BY p.symbol
             ORDER BY p.ts_ns, p.is_quote, COALESCE(p.sequence, 9223372036854775807), p.exchange, p.trade_id,
                      p.received_ns)
FROM (
    SELECT
        r.symbol, r.ts_ns, r.price, r.size, r.conditions, r.correction, r.bid_price, r.bid_size, r.ask_price,
        r.ask_size, r.is_quote, r.sequence, r.exchange, r.trade_id, r.received_ns,
        CASE WHEN r.first_row = 1 THEN r.state END AS state
    FROM (
        SELECT
            u.*,
            ROW_NUMBER() OVER (PARTITION BY u.symbol
                               ORDER BY u.ts_ns, u.is_quote, COALESCE(u.sequence, 9223372036854775807), u.exchange,
                                        u.trade_id, u.received_ns) AS first_row
        FROM (
            SELECT m.symbol, m.ts_ns, m.price, m.size, m.conditions, m.correction,
                   NULL::FLOAT AS bid_price, NULL::FLOAT AS bid_size, NULL::FLOAT AS ask_price,
                   NULL::FLOAT AS ask_size, 0 AS is_quote, m.sequence, m.exchange, m.trade_id, 0 AS received_ns,
                   st.state
            FROM market_data AS m
            LEFT OUTER JOIN signal_state AS st ON st.symbol = m.symbol AND st.bar_seconds = :bar_seconds
            WHERE m.market = :market
              AND m.ts_ns >= COALESCE(st.last_bar_end_ns, 0)
              AND m.ts_ns < :watermark_ns
            UNION ALL
            SELECT q.symbol, q.ts_ns, NULL::FLOAT AS price, NULL::FLOAT AS size, NULL::VARCHAR AS conditions,
                   NULL::INTEGER AS correction, q.bid_price, q.bid_size, q.ask_price, q.ask_size, 1 AS is_quote,
                   q.sequence, 0 AS exchange, '' AS trade_id, q.received_ns, st.state
            FROM quotes AS q
            LEFT OUTER JOIN signal_state AS st ON st.symbol = q.symbol AND st.bar_seconds = :bar_seconds
            WHERE q.market = :market
              AND q.ts_ns >= COALESCE(st.last_bar_end_ns, 0)
              AND q.ts_ns < :watermark_ns
        ) AS u
    ) AS r
) AS p;
