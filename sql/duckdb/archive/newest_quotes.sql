-- name: newest_quotes
-- returns: one row: the newest time of quotes in ns (NULL when it is empty)
SELECT max(ts_ns) FROM quotes;
