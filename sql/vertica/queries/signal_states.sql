-- name: signal_states
-- params: bar_seconds
-- returns: symbol, bar_seconds, last_bar_end_ns, state
SELECT symbol, bar_seconds, last_bar_end_ns, state
FROM signal_state
WHERE bar_seconds = :bar_seconds;
