-- name: signal_state_stage
-- Session-local landing table of the states of one signals commit (client-side transform); upsert_signal_state
-- merges it into signal_state.
CREATE LOCAL TEMPORARY TABLE IF NOT EXISTS signal_state_stage (
    symbol          VARCHAR(32)            NOT NULL,
    bar_seconds     INTEGER                NOT NULL,
    last_bar_end_ns INTEGER                NOT NULL,
    state           LONG VARCHAR(1048576)  NOT NULL,
    updated_ns      INTEGER                NOT NULL
) ON COMMIT DELETE ROWS;
