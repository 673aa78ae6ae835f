-- name: rewind_trading_signals
-- params: symbol, bar_seconds, after_ns
-- Deletes the trading_signals rows of a symbol recomputed from a session start on (transform --recompute --since):
-- every bar ending after the state it is rewound to.
DELETE FROM trading_signals WHERE symbol = :symbol AND bar_seconds = :bar_seconds AND bar_end_ns > :after_ns;
