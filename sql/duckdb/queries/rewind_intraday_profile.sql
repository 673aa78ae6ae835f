-- name: rewind_intraday_profile
-- params: symbol, bar_seconds, after_ns
-- Deletes the intraday_profile rows of a symbol recomputed from a session start on: the profiles of every
-- session opening after the state it is rewound to.
DELETE FROM intraday_profile
WHERE symbol = $symbol AND bar_seconds = $bar_seconds AND session_open_ns > $after_ns;
