-- name: trades_range
-- params: symbol, start_ns, end_ns
-- returns: ts_ns, price, size, conditions, correction of one symbol in [start_ns, end_ns), in time order (ties by sequence, id)
SELECT ts_ns, price, size, conditions, correction
FROM market_data
WHERE symbol = :symbol AND ts_ns >= :start_ns AND ts_ns < :end_ns
ORDER BY ts_ns, COALESCE(sequence, 9223372036854775807), exchange, trade_id;
