-- The DuckDB layout of commit bc1f731 (the project skeleton): market_data and trading_signals with PRIMARY KEYs,
-- no correction column, no intraday_profile / trade_conditions / trade_corrections, no schema_version.
-- The oldest layout migrations support (tests/sql/test_migrations.py); generated with git show, never edited.
-- name: market_data
-- One row per trade. Times are BIGINT nanoseconds since the Unix epoch, UTC.
-- The primary key is the dedupe key of DESIGN §5: loading the same event twice leaves one row.
CREATE TABLE IF NOT EXISTS market_data (
    market      VARCHAR NOT NULL,            -- stocks | crypto
    symbol      VARCHAR NOT NULL,
    ts_ns       BIGINT  NOT NULL,            -- SIP (stocks) or exchange (crypto) timestamp
    price       DOUBLE  NOT NULL,
    size        DOUBLE  NOT NULL,            -- crypto sizes are fractional
    exchange    INTEGER NOT NULL,
    trade_id    VARCHAR NOT NULL,
    conditions  VARCHAR,                     -- comma-separated condition codes, as in Polygon flat files
    tape        INTEGER,
    sequence    BIGINT,
    trf_id      INTEGER,
    trf_ts_ns   BIGINT,
    received_ns BIGINT  NOT NULL,            -- when this process received the event
    source      VARCHAR NOT NULL,            -- ws | replay | sim
    PRIMARY KEY (market, symbol, exchange, trade_id, ts_ns)
);
-- name: quotes
-- One row per top-of-book quote (stocks Q, crypto XQ).
CREATE TABLE IF NOT EXISTS quotes (
    market       VARCHAR NOT NULL,
    symbol       VARCHAR NOT NULL,
    ts_ns        BIGINT  NOT NULL,
    bid_price    DOUBLE,
    bid_size     DOUBLE,
    ask_price    DOUBLE,
    ask_size     DOUBLE,
    bid_exchange INTEGER,
    ask_exchange INTEGER,
    conditions   VARCHAR,
    sequence     BIGINT,
    tape         INTEGER,
    received_ns  BIGINT  NOT NULL,
    source       VARCHAR NOT NULL
);
-- name: trading_signals
-- One row per symbol per completed bar of bar_seconds on the session's calendar grid (spec/signals.md).
CREATE TABLE IF NOT EXISTS trading_signals (
    symbol                 VARCHAR NOT NULL,
    bar_end_ns             BIGINT  NOT NULL,   -- exclusive end of the bar [bar_end_ns - bar_seconds, bar_end_ns)
    bar_seconds            INTEGER NOT NULL,
    n_trades               BIGINT  NOT NULL,
    volume                 DOUBLE  NOT NULL,
    vwap                   DOUBLE,             -- NULL for a bar without trades
    close                  DOUBLE  NOT NULL,   -- previous-tick price at bar end
    log_return             DOUBLE,             -- NULL on the first bar of a session
    garch_sigma            DOUBLE,
    standardized_return    DOUBLE,
    lee_mykland_stat       DOUBLE,
    jump_threshold         DOUBLE,
    jump_detected          BOOLEAN NOT NULL,
    bns_stat               DOUBLE,
    trade_intensity_zscore DOUBLE,
    conditional_duration   DOUBLE,             -- ACD expected duration, seconds
    acd_surprise           DOUBLE,
    vpin                   DOUBLE,
    vpin_cdf               DOUBLE,
    trading_signal         VARCHAR NOT NULL,   -- BUY | SELL | HOLD
    signal_reason          VARCHAR NOT NULL,
    computed_at_ns         BIGINT  NOT NULL,
    PRIMARY KEY (symbol, bar_seconds, bar_end_ns)
);
-- name: model_params
-- Fitted GARCH(1,1) and ACD(1,1) per symbol; one row per fit.
CREATE TABLE IF NOT EXISTS model_params (
    symbol         VARCHAR NOT NULL,
    model          VARCHAR NOT NULL,   -- garch11 | acd11
    bar_seconds    INTEGER NOT NULL,
    fit_start_ns   BIGINT  NOT NULL,
    fit_end_ns     BIGINT  NOT NULL,
    n_obs          BIGINT  NOT NULL,
    omega          DOUBLE,
    alpha          DOUBLE,
    beta           DOUBLE,
    loglik         DOUBLE,
    converged      BOOLEAN NOT NULL,
    scale          DOUBLE,
    fitted_at_ns   BIGINT  NOT NULL,
    PRIMARY KEY (symbol, model, bar_seconds, fit_end_ns)
);
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
