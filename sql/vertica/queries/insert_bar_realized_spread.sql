-- name: insert_bar_realized_spread
-- returns: the number of rows added (the batch was COPYed into bar_realized_spread_stage first). A bar whose key is
-- stored already keeps its row (a bar is written once, never changed), and a bar no longer in trading_signals gets
-- none: retention moved it out meanwhile (its day is archived; a row written now would stay live without its bar).
INSERT INTO bar_realized_spread (symbol, bar_end_ns, bar_seconds, horizon_seconds, n_trades, matched_volume,
                                 realized_spread, price_impact, tick_price, tick_sign, computed_at_ns)
SELECT b.symbol, b.bar_end_ns, b.bar_seconds, b.horizon_seconds, b.n_trades, b.matched_volume, b.realized_spread,
       b.price_impact, b.tick_price, b.tick_sign, b.computed_at_ns
FROM bar_realized_spread_stage AS b
WHERE NOT EXISTS (
    SELECT 1 FROM bar_realized_spread AS t
    WHERE t.symbol = b.symbol AND t.bar_seconds = b.bar_seconds AND t.bar_end_ns = b.bar_end_ns
)
AND EXISTS (
    SELECT 1 FROM trading_signals AS s
    WHERE s.symbol = b.symbol AND s.bar_seconds = b.bar_seconds AND s.bar_end_ns = b.bar_end_ns
);
