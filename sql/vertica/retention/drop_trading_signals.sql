-- name: drop_trading_signals
-- params: first_day, last_day
-- returns: one row, Vertica's message; drops the day partitions [first_day, last_day] of trading_signals_archive, once
-- export_trading_signals wrote them to Parquet and record_trading_signals counted them
SELECT DROP_PARTITIONS('trading_signals_archive', :first_day, :last_day);
