-- name: udx_signals_to_stage
-- params: settings, market, bar_seconds, watermark_ns, computed_at_ns
-- returns: rows staged: every newly final bar of every symbol of one market, computed inside Vertica
-- Incremental by signal_state: each symbol's trades from the end of its last written bar (or all of them) up
-- to the watermark go to one batch_microstructure partition, ordered as trades_range orders them; the stored
-- state rides on the partition's first row only (it can be tens of kB). The UDx (udx/vertica_udx.py) runs
-- udx.transform.run_transform on the partition, so the rows equal those of the client-side transform.
INSERT INTO trading_signals_stage (
    symbol, bar_end_ns, bar_seconds, n_trades, volume, vwap, close, log_return, garch_sigma,
    standardized_return, lee_mykland_stat, jump_threshold, jump_detected, bns_stat, trade_intensity_zscore,
    conditional_duration, acd_surprise, vpin, vpin_cdf, trading_signal, signal_reason, computed_at_ns, state,
    model_params, intraday_profile
)
SELECT batch_microstructure(p.ts_ns, p.price, p.size, p.conditions, p.correction, p.symbol, p.state
                            USING PARAMETERS settings = :settings, market = :market,
                                             watermark_ns = :watermark_ns, computed_at_ns = :computed_at_ns)
       OVER (PARTITION BY p.symbol ORDER BY p.ts_ns, COALESCE(p.sequence, 9223372036854775807), p.exchange, p.trade_id)
FROM (
    SELECT
        r.symbol, r.ts_ns, r.price, r.size, r.conditions, r.correction, r.sequence, r.exchange, r.trade_id,
        CASE WHEN r.first_row = 1 THEN r.state END AS state
    FROM (
        SELECT
            m.symbol, m.ts_ns, m.price, m.size, m.conditions, m.correction, m.sequence, m.exchange, m.trade_id,
            st.state,
            ROW_NUMBER() OVER (PARTITION BY m.symbol
                               ORDER BY m.ts_ns, COALESCE(m.sequence, 9223372036854775807), m.exchange, m.trade_id) AS first_row
        FROM market_data AS m
        LEFT OUTER JOIN signal_state AS st ON st.symbol = m.symbol AND st.bar_seconds = :bar_seconds
        WHERE m.market = :market
          AND m.ts_ns >= COALESCE(st.last_bar_end_ns, 0)
          AND m.ts_ns < :watermark_ns
    ) AS r
) AS p;
