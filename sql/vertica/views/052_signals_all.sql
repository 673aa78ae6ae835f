-- name: signals_all
-- returns: every row of trading_signals: the live days and the day partitions retention moved to trading_signals_archive
-- (MOVE_PARTITIONS_TO_TABLE, sql/vertica/retention/); the columns of trading_signals, as the DuckDB view (there the
-- archive is Parquet). Days dropped from trading_signals_archive after EXPORT TO PARQUET are only in the Parquet files.
CREATE OR REPLACE VIEW signals_all AS
SELECT symbol, bar_end_ns, bar_seconds, n_trades, volume, vwap, close, log_return, garch_sigma, standardized_return, lee_mykland_stat, jump_threshold, jump_detected, bns_stat, trade_intensity_zscore, conditional_duration, acd_surprise, vpin, vpin_cdf, trading_signal, signal_reason, computed_at_ns FROM trading_signals
UNION ALL
SELECT symbol, bar_end_ns, bar_seconds, n_trades, volume, vwap, close, log_return, garch_sigma, standardized_return, lee_mykland_stat, jump_threshold, jump_detected, bns_stat, trade_intensity_zscore, conditional_duration, acd_surprise, vpin, vpin_cdf, trading_signal, signal_reason, computed_at_ns FROM trading_signals_archive;
