-- name: staged_realized_spread
-- returns: symbol and the JSON lists of bar_realized_spread rows the UDx returned after each symbol's bars (rows of
-- their own: bar_end_ns NULL), for bar_realized_spread_stage and insert_bar_realized_spread
SELECT symbol, bar_realized_spread FROM trading_signals_stage WHERE bar_realized_spread IS NOT NULL ORDER BY symbol;
