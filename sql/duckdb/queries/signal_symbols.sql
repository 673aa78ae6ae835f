-- name: signal_symbols
-- params: bar_seconds
-- returns: every symbol with at least one bar on the grid, alphabetical
-- What the server keeps the newest bars of in memory (server/tools/signal_memory.py): read once when it loads.
SELECT DISTINCT symbol
FROM trading_signals
WHERE bar_seconds = $bar_seconds
ORDER BY symbol;
