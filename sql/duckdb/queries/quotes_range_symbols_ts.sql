-- name: quotes_range_symbols_ts
-- params: symbols, start_ns, end_ns
-- returns: symbol_index (1-based position of symbol in symbols), ts_ns, bid_price, bid_size, ask_price, ask_size of the given symbols' quotes in [start_ns, end_ns), unordered
-- quotes_range_symbols_stored_ts without rowid: a symbol whose quotes have distinct times is put in time order on
-- the client from the times alone, however the scan hands the rows back (sql/stored_order.py time_runs); a read
-- of quotes stored interleaved (a feed) is read again with rowid (sql/duckdb_backend.py read_quote_arrays).
SELECT list_position($symbols, symbol) AS symbol_index, ts_ns, bid_price, bid_size, ask_price, ask_size
FROM quotes
WHERE list_contains($symbols, symbol) AND ts_ns >= $start_ns AND ts_ns < $end_ns;
