-- name: staged_summary
-- returns: one row: bars staged in this transaction and the number of their symbols
SELECT COUNT(*) AS bars, COUNT(DISTINCT symbol) AS symbols FROM trading_signals_stage;
