-- name: signal_states_of
-- params: bar_seconds, symbols
-- returns: symbol, bar_seconds, last_bar_end_ns, state, updated_ns
-- The stored states of some symbols (those the transform does not hold in memory as stored), with their stamp.
SELECT symbol, bar_seconds, last_bar_end_ns, state, updated_ns
FROM signal_state
WHERE bar_seconds = $bar_seconds AND list_contains($symbols, symbol);
