-- name: move_market_data
-- params: first_day, last_day
-- returns: one row, Vertica's message; moves the day partitions [first_day, last_day] of market_data to market_data_archive in
-- one catalog operation (no rows are copied; the *_all view reads both tables, so nothing disappears meanwhile)
SELECT MOVE_PARTITIONS_TO_TABLE('market_data', :first_day, :last_day, 'market_data_archive');
