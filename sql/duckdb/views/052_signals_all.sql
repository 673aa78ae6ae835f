-- name: signals_all
-- returns: every row of trading_signals, those in the live file and those the archive moved to Parquet (ARCHIVE_PATH/signals,
-- sql/archive.py); the same columns as trading_signals. __ARCHIVE__ is replaced when the view is created by the Parquet
-- files of the archive (read_parquet with hive partitioning, the path a quoted literal) or, while the archive
-- holds no file of this table, by an empty relation (sql/archive_paths.py)
CREATE OR REPLACE VIEW signals_all AS
SELECT symbol, bar_end_ns, bar_seconds, n_trades, volume, vwap, close, log_return, garch_sigma, standardized_return, lee_mykland_stat, jump_threshold, jump_detected, bns_stat, trade_intensity_zscore, conditional_duration, acd_surprise, vpin, vpin_cdf, trading_signal, signal_reason, computed_at_ns FROM trading_signals
UNION ALL
SELECT symbol, bar_end_ns, bar_seconds, n_trades, volume, vwap, close, log_return, garch_sigma, standardized_return, lee_mykland_stat, jump_threshold, jump_detected, bns_stat, trade_intensity_zscore, conditional_duration, acd_surprise, vpin, vpin_cdf, trading_signal, signal_reason, computed_at_ns FROM __ARCHIVE__;
