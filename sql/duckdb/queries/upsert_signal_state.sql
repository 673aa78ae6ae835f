-- name: upsert_signal_state
-- returns: nothing; one row per symbol and grid from signal_state_batch (sql.contract.SIGNAL_STATE_SCHEMA),
-- replacing the stored state
INSERT OR REPLACE INTO signal_state (symbol, bar_seconds, last_bar_end_ns, state, updated_ns)
SELECT symbol, bar_seconds, last_bar_end_ns, state, updated_ns FROM signal_state_batch;
