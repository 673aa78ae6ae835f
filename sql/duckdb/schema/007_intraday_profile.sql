-- name: intraday_profile
-- The time-of-day volatility profile the transform estimated at the start of each session, from earlier sessions
-- only (udx/seasonality.py: Boudt-Croux-Laurent weighted standard deviation per bucket, mean square one over the
-- session). Returns are divided by sqrt(factor^2 integrated over their elapsed time) before Lee-Mykland, BNS,
-- GARCH and the momentum rule. One row per symbol, grid, session and bucket.
CREATE TABLE IF NOT EXISTS intraday_profile (
    symbol             VARCHAR NOT NULL,
    bar_seconds        INTEGER NOT NULL,
    session_open_ns    BIGINT  NOT NULL,   -- the session the profile applies to
    bucket             INTEGER NOT NULL,   -- time-of-day bucket, 0 = the one starting at the open
    minutes_after_open DOUBLE  NOT NULL,   -- where the bucket starts
    factor             DOUBLE  NOT NULL,   -- volatility relative to the session's root mean square
    n_obs              DOUBLE  NOT NULL,   -- returns behind the bucket's own value (after jump truncation)
    sessions           INTEGER NOT NULL,   -- earlier sessions the symbol had finished
    fallback           BOOLEAN NOT NULL,   -- true: too little history, the profile is flat
    computed_at_ns     BIGINT  NOT NULL,
    PRIMARY KEY (symbol, bar_seconds, session_open_ns, bucket)
);
