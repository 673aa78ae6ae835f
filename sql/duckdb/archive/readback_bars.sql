-- name: readback_bars
-- returns: filename, symbol, n_rows, first_ns, last_ns of every staged Parquet file __ARCHIVE__ (a quoted glob),
-- read back from the files themselves
SELECT filename, symbol, count(*) AS n_rows, min(bar_end_ns) AS first_ns, max(bar_end_ns) AS last_ns
FROM read_parquet(__ARCHIVE__, filename = true, hive_partitioning = false)
GROUP BY ALL;
