-- name: archived_quote_positions
-- params: files
-- returns: batch_pos of every row of the registered Arrow table archive_check_batch (QUOTES_SCHEMA + batch_pos) that
-- one of the archived Parquet files holds already: a quote delivered again after its day left the live file. Quotes
-- carry no id, so a quote is the same when every column but received_ns and source is (NULL equal to NULL)
SELECT b.batch_pos
FROM archive_check_batch AS b
SEMI JOIN read_parquet($files) AS a
    ON a.ts_ns = b.ts_ns AND a.market = b.market AND a.symbol = b.symbol
   AND a.sequence IS NOT DISTINCT FROM b.sequence
   AND a.bid_price IS NOT DISTINCT FROM b.bid_price AND a.bid_size IS NOT DISTINCT FROM b.bid_size
   AND a.ask_price IS NOT DISTINCT FROM b.ask_price AND a.ask_size IS NOT DISTINCT FROM b.ask_size
   AND a.bid_exchange IS NOT DISTINCT FROM b.bid_exchange AND a.ask_exchange IS NOT DISTINCT FROM b.ask_exchange
   AND a.conditions IS NOT DISTINCT FROM b.conditions AND a.tape IS NOT DISTINCT FROM b.tape;
