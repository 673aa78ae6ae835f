-- name: intraday_profile_stage
-- Session-local landing table of intraday profile rows before upsert_intraday_profile merges them.
CREATE LOCAL TEMPORARY TABLE IF NOT EXISTS intraday_profile_stage (
    symbol             VARCHAR(32) NOT NULL,
    bar_seconds        INTEGER     NOT NULL,
    session_open_ns    INTEGER     NOT NULL,
    bucket             INTEGER     NOT NULL,
    minutes_after_open FLOAT       NOT NULL,
    factor             FLOAT       NOT NULL,
    n_obs              FLOAT       NOT NULL,
    sessions           INTEGER     NOT NULL,
    fallback           BOOLEAN     NOT NULL,
    computed_at_ns     INTEGER     NOT NULL
) ON COMMIT DELETE ROWS;
