-- name: newest_bar_end
-- params: symbols, bar_seconds
-- returns: one row: the newest bar end of the given symbols (all: NULL list) on the grid, and how many symbols have one
-- A hint for newest-first pages (server/tools/recent_window.py): signal_state is one row per symbol, so this
-- never touches trading_signals. The pages stay exact whatever it says; it only chooses where to look first.
SELECT MAX(last_bar_end_ns) AS newest_bar_end_ns, COUNT(*) AS symbols
FROM signal_state
WHERE bar_seconds = :bar_seconds
  AND (:symbols IS NULL OR CONTAINS((:symbols)::ARRAY[VARCHAR(32)], symbol));
