-- name: move_quotes
-- params: first_day, last_day
-- returns: one row, Vertica's message; moves the day partitions [first_day, last_day] of quotes to quotes_archive in
-- one catalog operation (no rows are copied; the *_all view reads both tables, so nothing disappears meanwhile)
SELECT MOVE_PARTITIONS_TO_TABLE('quotes', :first_day, :last_day, 'quotes_archive');
