-- name: trading_signals_stage
-- Session-local landing table of one signals commit: COPY (client-side transform) or the batch_microstructure
-- UDx (in-database transform) fills it; upsert_signals merges it into trading_signals. The extra column state
-- (signal_state.state) is set by the UDx on the last bar of each symbol: the state that follows that bar; on
-- the same row model_params holds the fits (model_params rows) made on the way, as a JSON list. The UDx also fills
-- each bar's liquidity measures (the bar_liquidity columns, NULL when the client-side transform COPYs here);
-- transform/staged_bar_liquidity.sql moves them to bar_liquidity_stage.
CREATE LOCAL TEMPORARY TABLE IF NOT EXISTS trading_signals_stage (
    symbol                 VARCHAR(32)  NOT NULL,
    bar_end_ns             INTEGER      NOT NULL,
    bar_seconds            INTEGER      NOT NULL,
    n_trades               INTEGER      NOT NULL,
    volume                 FLOAT        NOT NULL,
    vwap                   FLOAT,
    close                  FLOAT        NOT NULL,
    log_return             FLOAT,
    garch_sigma            FLOAT,
    standardized_return    FLOAT,
    lee_mykland_stat       FLOAT,
    jump_threshold         FLOAT,
    jump_detected          BOOLEAN      NOT NULL,
    bns_stat               FLOAT,
    trade_intensity_zscore FLOAT,
    conditional_duration   FLOAT,
    acd_surprise           FLOAT,
    vpin                   FLOAT,
    vpin_cdf               FLOAT,
    trading_signal         VARCHAR(8)   NOT NULL,
    signal_reason          VARCHAR(512) NOT NULL,
    computed_at_ns         INTEGER      NOT NULL,
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
    vpin_lee_ready         FLOAT
) ON COMMIT DELETE ROWS;
