-- name: insert_bar_realized_spread
-- returns: rows added; a bar whose key is stored already keeps its row (a bar is written once, never changed), and
-- a bar no longer in trading_signals gets none: retention archived it meanwhile (a row written now would stay live
-- without its bar; sql/archive.py keeps a day's bars live until their rows are written)
INSERT INTO bar_realized_spread
SELECT b.*
FROM bar_realized_spread_batch AS b
WHERE NOT EXISTS (
    SELECT 1 FROM bar_realized_spread AS t
    WHERE t.symbol = b.symbol AND t.bar_seconds = b.bar_seconds AND t.bar_end_ns = b.bar_end_ns
)
AND EXISTS (
    SELECT 1 FROM trading_signals AS s
    WHERE s.symbol = b.symbol AND s.bar_seconds = b.bar_seconds AND s.bar_end_ns = b.bar_end_ns
);
