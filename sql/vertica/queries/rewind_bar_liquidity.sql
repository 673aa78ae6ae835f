-- name: rewind_bar_liquidity
-- params: symbol, bar_seconds, after_ns
-- Deletes the bar_liquidity rows of a symbol recomputed from a session start on: every bar ending after the state
-- it is rewound to.
DELETE FROM bar_liquidity WHERE symbol = :symbol AND bar_seconds = :bar_seconds AND bar_end_ns > :after_ns;
