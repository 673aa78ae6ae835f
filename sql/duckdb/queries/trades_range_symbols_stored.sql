-- name: trades_range_symbols_stored
-- params: symbols, start_ns, end_ns
-- returns: stored_row (rowid), symbol_index (1-based position of symbol in symbols), ts_ns, sequence, exchange, price, size, conditions, correction of the given symbols' trades in [start_ns, end_ns), in stored order
-- The rows of trades_range_symbols without its sort: sql/stored_order.py orders them on the client when they
-- are stored in order (the usual case) and names the symbols trades_range_symbols must order instead (a tie on
-- ts_ns, sequence and exchange, which trade_id, not read here, breaks).
SELECT rowid AS stored_row, list_position($symbols, symbol) AS symbol_index, ts_ns, sequence, exchange, price, size, conditions, correction
FROM market_data
WHERE list_contains($symbols, symbol) AND ts_ns >= $start_ns AND ts_ns < $end_ns;
