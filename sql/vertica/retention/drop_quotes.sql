-- name: drop_quotes
-- params: first_day, last_day
-- returns: one row, Vertica's message; drops the day partitions [first_day, last_day] of quotes_archive, once
-- export_quotes wrote them to Parquet and record_quotes counted them
SELECT DROP_PARTITIONS('quotes_archive', :first_day, :last_day);
