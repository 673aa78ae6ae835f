-- name: quotes_all
-- returns: every row of quotes: the live days and the day partitions retention moved to quotes_archive
-- (MOVE_PARTITIONS_TO_TABLE, sql/vertica/retention/); the columns of quotes, as the DuckDB view (there the
-- archive is Parquet). Days dropped from quotes_archive after EXPORT TO PARQUET are only in the Parquet files.
CREATE OR REPLACE VIEW quotes_all AS
SELECT market, symbol, ts_ns, bid_price, bid_size, ask_price, ask_size, bid_exchange, ask_exchange, conditions, sequence, tape, received_ns, source FROM quotes
UNION ALL
SELECT market, symbol, ts_ns, bid_price, bid_size, ask_price, ask_size, bid_exchange, ask_exchange, conditions, sequence, tape, received_ns, source FROM quotes_archive;
