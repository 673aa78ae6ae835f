-- name: signal_state_stamps
-- params: bar_seconds
-- returns: symbol, last_bar_end_ns, updated_ns
-- What tells the transform's in-memory states (udx/state_cache.py) whether each stored state is still the one
-- it wrote: the state text itself is not read.
SELECT symbol, last_bar_end_ns, updated_ns
FROM signal_state
WHERE bar_seconds = $bar_seconds;
