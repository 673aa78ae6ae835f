-- name: trading_signals_archive
-- Vertica only: where retention moves the day partitions of trading_signals older than its RETAIN_*_DAYS
-- (MOVE_PARTITIONS_TO_TABLE needs a table of the same columns, projections and partitioning: LIKE ... INCLUDING
-- PROJECTIONS). The *_all views read trading_signals and this table; after EXPORT TO PARQUET, DROP_PARTITIONS empties it.
CREATE TABLE IF NOT EXISTS trading_signals_archive LIKE trading_signals INCLUDING PROJECTIONS;
