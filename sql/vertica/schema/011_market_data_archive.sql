-- name: market_data_archive
-- Vertica only: where retention moves the day partitions of market_data older than its RETAIN_*_DAYS
-- (MOVE_PARTITIONS_TO_TABLE needs a table of the same columns, projections and partitioning: LIKE ... INCLUDING
-- PROJECTIONS). The *_all views read market_data and this table; after EXPORT TO PARQUET, DROP_PARTITIONS empties it.
CREATE TABLE IF NOT EXISTS market_data_archive LIKE market_data INCLUDING PROJECTIONS;
