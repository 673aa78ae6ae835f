-- name: upsert_signals
-- returns: the number of rows written; a recomputed bar replaces the stored one
-- Source: trading_signals_stage, filled by COPY (client-side transform) or by the batch_microstructure UDx
-- (in-database transform); its keys are unique, as MERGE requires. Rows without a bar_end_ns only carry the UDx's
-- realized rows (transform/staged_realized_spread.sql): not bars.
MERGE INTO trading_signals AS t
USING (SELECT * FROM trading_signals_stage WHERE bar_end_ns IS NOT NULL) AS s
ON t.symbol = s.symbol AND t.bar_seconds = s.bar_seconds AND t.bar_end_ns = s.bar_end_ns
WHEN MATCHED THEN UPDATE SET
    n_trades = s.n_trades, volume = s.volume, vwap = s.vwap, close = s.close, log_return = s.log_return,
    garch_sigma = s.garch_sigma, standardized_return = s.standardized_return,
    lee_mykland_stat = s.lee_mykland_stat, jump_threshold = s.jump_threshold, jump_detected = s.jump_detected,
    bns_stat = s.bns_stat, trade_intensity_zscore = s.trade_intensity_zscore,
    conditional_duration = s.conditional_duration, acd_surprise = s.acd_surprise, vpin = s.vpin,
    vpin_cdf = s.vpin_cdf, trading_signal = s.trading_signal, signal_reason = s.signal_reason,
    computed_at_ns = s.computed_at_ns
WHEN NOT MATCHED THEN INSERT (
    symbol, bar_end_ns, bar_seconds, n_trades, volume, vwap, close, log_return, garch_sigma,
    standardized_return, lee_mykland_stat, jump_threshold, jump_detected, bns_stat, trade_intensity_zscore,
    conditional_duration, acd_surprise, vpin, vpin_cdf, trading_signal, signal_reason, computed_at_ns
) VALUES (
    s.symbol, s.bar_end_ns, s.bar_seconds, s.n_trades, s.volume, s.vwap, s.close, s.log_return, s.garch_sigma,
    s.standardized_return, s.lee_mykland_stat, s.jump_threshold, s.jump_detected, s.bns_stat,
    s.trade_intensity_zscore, s.conditional_duration, s.acd_surprise, s.vpin, s.vpin_cdf, s.trading_signal,
    s.signal_reason, s.computed_at_ns
);
