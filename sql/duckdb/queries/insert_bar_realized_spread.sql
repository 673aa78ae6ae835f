-- name: insert_bar_realized_spread
-- returns: rows added; a bar whose key is stored already keeps its row (a bar is written once, never changed), and
-- a bar no longer in trading_signals gets none: retention archived it meanwhile (a row written now would stay live
-- without its bar; sql/archive.py keeps a day's bars live until their rows are written)
-- The NOT EXISTS is bounded by the batch's oldest bar end (a stored row with a batch row's key ends no earlier):
-- DuckDB pushes no join filter into an anti join's scan, so without the bound every row group of
-- bar_realized_spread is read (10M rows: ~0.05 s CPU for a one-bar batch); with it its zone maps skip the older
-- ones. The EXISTS gets that filter from DuckDB itself (BENCHMARKS.md, transform end to end, helper wpath).
INSERT INTO bar_realized_spread
SELECT b.*
FROM bar_realized_spread_batch AS b
WHERE NOT EXISTS (
    SELECT 1 FROM bar_realized_spread AS t
    WHERE t.symbol = b.symbol AND t.bar_seconds = b.bar_seconds AND t.bar_end_ns = b.bar_end_ns
      AND t.bar_end_ns >= (SELECT min(bar_end_ns) FROM bar_realized_spread_batch)
)
AND EXISTS (
    SELECT 1 FROM trading_signals AS s
    WHERE s.symbol = b.symbol AND s.bar_seconds = b.bar_seconds AND s.bar_end_ns = b.bar_end_ns
);
