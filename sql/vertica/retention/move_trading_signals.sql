-- name: move_trading_signals
-- params: first_day, last_day
-- returns: one row, Vertica's message; moves the day partitions [first_day, last_day] of trading_signals to trading_signals_archive in
-- one catalog operation (no rows are copied; the *_all view reads both tables, so nothing disappears meanwhile)
SELECT MOVE_PARTITIONS_TO_TABLE('trading_signals', :first_day, :last_day, 'trading_signals_archive');
