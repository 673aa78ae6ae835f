-- name: quotes_range_symbols_stored
-- params: symbols, start_ns, end_ns
-- returns: stored_row (rowid), symbol_index (1-based position of symbol in symbols), ts_ns, sequence, received_ns, bid_price, bid_size, ask_price, ask_size of the given symbols' quotes in [start_ns, end_ns), in stored order
-- The rows of quotes_range_symbols without its sort: sql/stored_order.py orders them on the client when they
-- are stored in order (the usual case) and names the symbols quotes_range_symbols must order instead.
SELECT rowid AS stored_row, list_position($symbols, symbol) AS symbol_index, ts_ns, sequence, received_ns, bid_price, bid_size, ask_price, ask_size
FROM quotes
WHERE list_contains($symbols, symbol) AND ts_ns >= $start_ns AND ts_ns < $end_ns;
