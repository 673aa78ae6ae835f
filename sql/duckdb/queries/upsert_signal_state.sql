-- name: upsert_signal_state
-- params: symbol, bar_seconds, last_bar_end_ns, state, updated_ns
INSERT OR REPLACE INTO signal_state (symbol, bar_seconds, last_bar_end_ns, state, updated_ns)
VALUES ($symbol, $bar_seconds, $last_bar_end_ns, $state, $updated_ns);
