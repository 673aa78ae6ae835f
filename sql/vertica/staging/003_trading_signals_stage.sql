-- name: trading_signals_stage
-- Session-local landing table of one signals commit: COPY (client-side transform) or the batch_microstructure
-- UDx (in-database transform) fills it; upsert_signals merges it into trading_signals. The extra column state
-- (signal_state.state) is set by the UDx on the last bar of each symbol: the state that follows that bar; on
-- the same row model_params holds the fits (model_params rows) made on the way, as a JSON list. The UDx also fills
-- each bar's liquidity measures (the bar_liquidity columns, NULL when the client-side transform COPYs here);
-- transform/staged_bar_liquidity.sql moves them to bar_liquidity_stage. The 12-argument UDx adds rows of its own
-- after a symbol's bars: only symbol and bar_realized_spread (JSON lists of bar_realized_spread rows) set, so every
-- bar column may be NULL here; upsert_signals and staged_summary take the rows with a bar_end_ns, the contract
-- table's NOT NULLs check the bars.
CREATE LOCAL TEMPORARY TABLE IF NOT EXISTS trading_signals_stage (
    symbol                 VARCHAR(32)  NOT NULL,
    bar_end_ns             INTEGER,
    bar_seconds            INTEGER,
    n_trades               INTEGER,
    volume                 FLOAT,
    vwap                   FLOAT,
    close                  FLOAT,
    log_return             FLOAT,
    garch_sigma            FLOAT,
    standardized_return    FLOAT,
    lee_mykland_stat       FLOAT,
    jump_threshold         FLOAT,
    jump_detected          BOOLEAN,
    bns_stat               FLOAT,
    trade_intensity_zscore FLOAT,
    conditional_duration   FLOAT,
    acd_surprise           FLOAT,
    vpin                   FLOAT,
    vpin_cdf               FLOAT,
    trading_signal         VARCHAR(8),
    signal_reason          VARCHAR(512),
    computed_at_ns         INTEGER,
    state                  LONG VARCHAR(1048576),
    model_params           LONG VARCHAR(1048576),
    intraday_profile       LONG VARCHAR(1048576),
    n_quotes               INTEGER,
    quoted_spread          FLOAT,
    effective_spread       FLOAT,
    buy_volume             FLOAT,
    sell_volume            FLOAT,
    signed_volume          FLOAT,
    order_imbalance        FLOAT,
    depth_imbalance        FLOAT,
    amihud                 FLOAT,
    roll_spread            FLOAT,
    kyle_lambda            FLOAT,
    vpin_lee_ready         FLOAT,
    bar_realized_spread    LONG VARCHAR(1048576)
) ON COMMIT DELETE ROWS;
