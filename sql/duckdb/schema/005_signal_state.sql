-- name: signal_state
-- Per symbol and grid, what the incremental transform needs to resume exactly where it stopped.
CREATE TABLE IF NOT EXISTS signal_state (
    symbol          VARCHAR NOT NULL,
    bar_seconds     INTEGER NOT NULL,
    last_bar_end_ns BIGINT  NOT NULL,   -- every bar ending at or before this is in trading_signals
    state           VARCHAR NOT NULL,   -- versioned JSON of the carried statistics (udx/state.py)
    updated_ns      BIGINT  NOT NULL,
    PRIMARY KEY (symbol, bar_seconds)
);
