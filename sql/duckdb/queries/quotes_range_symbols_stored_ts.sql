-- name: quotes_range_symbols_stored_ts
-- params: symbols, start_ns, end_ns
-- returns: stored_row (rowid), symbol_index (1-based position of symbol in symbols), ts_ns, bid_price, bid_size, ask_price, ask_size of the given symbols' quotes in [start_ns, end_ns), in stored order
-- quotes_range_symbols_stored without the columns that break ties on ts_ns (sequence, received_ns): a symbol
-- whose quotes never share a timestamp is ordered by ts_ns alone, so they are not read (a symbol with a tie is
-- read again with them; sql/duckdb_backend.py read_quote_arrays).
SELECT rowid AS stored_row, list_position($symbols, symbol) AS symbol_index, ts_ns, bid_price, bid_size, ask_price, ask_size
FROM quotes
WHERE list_contains($symbols, symbol) AND ts_ns >= $start_ns AND ts_ns < $end_ns;
