-- name: signals_all
-- returns: every row of trading_signals: those in the live file and those retention moved to the Parquet archive
-- (ARCHIVE_PATH/signals, sql/archive.py), with the columns of trading_signals. As written here the archive branch is empty;
-- once the archive holds a file of this table, DuckDBStorage.create_views replaces its "(FROM trading_signals LIMIT 0)"
-- by read_parquet over the archive's files (hive partitioning, the path a quoted literal; sql/archive_paths.py)
CREATE OR REPLACE VIEW signals_all AS
SELECT symbol, bar_end_ns, bar_seconds, n_trades, volume, vwap, close, log_return, garch_sigma, standardized_return, lee_mykland_stat, jump_threshold, jump_detected, bns_stat, trade_intensity_zscore, conditional_duration, acd_surprise, vpin, vpin_cdf, trading_signal, signal_reason, computed_at_ns FROM trading_signals
UNION ALL
SELECT symbol, bar_end_ns, bar_seconds, n_trades, volume, vwap, close, log_return, garch_sigma, standardized_return, lee_mykland_stat, jump_threshold, jump_detected, bns_stat, trade_intensity_zscore, conditional_duration, acd_surprise, vpin, vpin_cdf, trading_signal, signal_reason, computed_at_ns FROM (FROM trading_signals LIMIT 0) AS archived;
