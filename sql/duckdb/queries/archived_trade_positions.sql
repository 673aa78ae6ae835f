-- name: archived_trade_positions
-- params: files
-- returns: batch_pos of every row of the registered Arrow table archive_check_batch (TRADES_SCHEMA + batch_pos) whose
-- dedupe key (market, symbol, exchange, trade_id, ts_ns) one of the archived Parquet files holds: a trade delivered
-- again after its day left the live file (the files are bound, and the instance reads only under ARCHIVE_PATH)
SELECT b.batch_pos
FROM archive_check_batch AS b
SEMI JOIN read_parquet($files) AS a
    ON a.ts_ns = b.ts_ns AND a.market = b.market AND a.symbol = b.symbol AND a.exchange = b.exchange
   AND a.trade_id = b.trade_id;
