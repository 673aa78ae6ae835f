-- name: newest_day_quotes
-- returns: one row: the UTC day of the newest row of quotes (NULL when it is empty); retention keeps that day and the
-- RETAIN_*_DAYS - 1 before it
SELECT TIMESTAMPADD('microsecond', MAX(ts_ns) // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE AS newest_day FROM quotes;
