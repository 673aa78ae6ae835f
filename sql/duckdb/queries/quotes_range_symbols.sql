-- name: quotes_range_symbols
-- params: symbols, start_ns, end_ns
-- returns: symbol, ts_ns, bid_price, bid_size, ask_price, ask_size of the given symbols' quotes in [start_ns, end_ns), by symbol, each in time order (ties by SIP sequence, then arrival)
-- The transform's read of a chunk's quotes (udx/liquidity_step.py): one scan for many symbols.
SELECT symbol, ts_ns, bid_price, bid_size, ask_price, ask_size
FROM quotes
WHERE list_contains($symbols, symbol) AND ts_ns >= $start_ns AND ts_ns < $end_ns
ORDER BY symbol, ts_ns, COALESCE(sequence, 9223372036854775807), received_ns;
