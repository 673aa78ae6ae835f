-- name: intraday_profile
-- The time-of-day volatility profile the transform estimated at the start of each session, from earlier sessions
-- only (udx/seasonality.py); same columns as sql/duckdb/schema/007_intraday_profile.sql. Small: one unpartitioned
-- projection segmented by symbol.
CREATE TABLE IF NOT EXISTS intraday_profile (
    symbol             VARCHAR(32) NOT NULL,
    bar_seconds        INTEGER     NOT NULL,
    session_open_ns    INTEGER     NOT NULL,
    bucket             INTEGER     NOT NULL,
    minutes_after_open FLOAT       NOT NULL,
    factor             FLOAT       NOT NULL,
    n_obs              FLOAT       NOT NULL,
    sessions           INTEGER     NOT NULL,
    fallback           BOOLEAN     NOT NULL,
    computed_at_ns     INTEGER     NOT NULL,
    CONSTRAINT intraday_profile_key PRIMARY KEY (symbol, bar_seconds, session_open_ns, bucket) DISABLED
)
ORDER BY symbol, bar_seconds, session_open_ns, bucket
SEGMENTED BY HASH(symbol) ALL NODES;
