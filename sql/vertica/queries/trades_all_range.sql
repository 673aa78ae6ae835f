-- name: trades_all_range
-- params: symbol, start_ns, end_ns
-- returns: ts_ns, price, size, conditions, correction of one symbol in [start_ns, end_ns), live and moved by retention
-- (the view trades_all: market_data and market_data_archive), in the time order of trades_range: a recompute after
-- an archive reads a symbol's history through it to reach the state its live part starts from (udx/recompute.py).
-- Days retention exported to Parquet and dropped are not in the database: VerticaStorage.read_trades_with_archive
-- refuses a range holding any (parquet_only_trade_days).
SELECT ts_ns, price, size, conditions, correction
FROM trades_all
WHERE symbol = :symbol AND ts_ns >= :start_ns AND ts_ns < :end_ns
ORDER BY ts_ns, COALESCE(sequence, 9223372036854775807), exchange, trade_id;
