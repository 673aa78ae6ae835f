-- name: signal_state
-- Per symbol and grid, what the incremental transform needs to resume exactly where it stopped.
-- state is LONG VARCHAR: the carried Lee-Mykland tail alone is K-1 hex doubles (K = 603 for 1-minute crypto
-- bars, ~14 kB; more on finer grids), beyond what a plain VARCHAR comfortably holds.
CREATE TABLE IF NOT EXISTS signal_state (
    symbol          VARCHAR(32)            NOT NULL,
    bar_seconds     INTEGER                NOT NULL,
    last_bar_end_ns INTEGER                NOT NULL,   -- every bar ending at or before this is in trading_signals
    state           LONG VARCHAR(1048576)  NOT NULL,   -- versioned JSON of the carried statistics (udx/state.py)
    updated_ns      INTEGER                NOT NULL,
    CONSTRAINT signal_state_key PRIMARY KEY (symbol, bar_seconds) DISABLED
)
ORDER BY symbol, bar_seconds
SEGMENTED BY HASH(symbol) ALL NODES;
