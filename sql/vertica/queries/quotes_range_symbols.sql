-- name: quotes_range_symbols
-- params: symbols, start_ns, end_ns
-- returns: symbol, ts_ns, bid_price, bid_size, ask_price, ask_size of the given symbols' quotes in [start_ns, end_ns), by symbol, each in time order (ties by SIP sequence, then arrival)
SELECT symbol, ts_ns, bid_price, bid_size, ask_price, ask_size
FROM quotes
WHERE CONTAINS((:symbols)::ARRAY[VARCHAR(32)], symbol) AND ts_ns >= :start_ns AND ts_ns < :end_ns
ORDER BY symbol, ts_ns, COALESCE(sequence, 9223372036854775807), received_ns;
