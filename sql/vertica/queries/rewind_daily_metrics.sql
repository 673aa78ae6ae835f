-- name: rewind_daily_metrics
-- params: symbol, bar_seconds, after_ns
-- Deletes the daily_metrics rows of a symbol recomputed from a session start on: every day holding a bar that ends
-- after the state it is rewound to (the day is written again once it is final).
DELETE FROM daily_metrics WHERE symbol = :symbol AND bar_seconds = :bar_seconds AND last_bar_end_ns > :after_ns;
