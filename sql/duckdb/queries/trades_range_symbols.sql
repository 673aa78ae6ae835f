-- name: trades_range_symbols
-- params: symbols, start_ns, end_ns
-- returns: symbol, ts_ns, price, size, conditions, correction of the given symbols in [start_ns, end_ns), by symbol, each in the time order of trades_range
SELECT symbol, ts_ns, price, size, conditions, correction
FROM market_data
WHERE list_contains($symbols, symbol) AND ts_ns >= $start_ns AND ts_ns < $end_ns
ORDER BY symbol, ts_ns, COALESCE(sequence, 9223372036854775807), exchange, trade_id;
