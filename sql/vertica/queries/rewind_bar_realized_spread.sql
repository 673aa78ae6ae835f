-- name: rewind_bar_realized_spread
-- params: symbol, bar_seconds, after_ns
-- Deletes the bar_realized_spread rows of a symbol recomputed from a session start on: every bar ending after the
-- state it is rewound to (the next run resumes from the newest row left).
DELETE FROM bar_realized_spread WHERE symbol = :symbol AND bar_seconds = :bar_seconds AND bar_end_ns > :after_ns;
