-- name: upsert_intraday_profile
-- returns: the number of rows written; a recomputed profile replaces the stored one
-- Source: intraday_profile_stage (COPY, or the profiles the batch_microstructure UDx returned); keys are unique.
MERGE INTO intraday_profile AS t
USING intraday_profile_stage AS s
ON t.symbol = s.symbol AND t.bar_seconds = s.bar_seconds AND t.session_open_ns = s.session_open_ns
   AND t.bucket = s.bucket
WHEN MATCHED THEN UPDATE SET
    minutes_after_open = s.minutes_after_open, factor = s.factor, n_obs = s.n_obs, sessions = s.sessions,
    fallback = s.fallback, computed_at_ns = s.computed_at_ns
WHEN NOT MATCHED THEN INSERT (
    symbol, bar_seconds, session_open_ns, bucket, minutes_after_open, factor, n_obs, sessions, fallback,
    computed_at_ns
) VALUES (
    s.symbol, s.bar_seconds, s.session_open_ns, s.bucket, s.minutes_after_open, s.factor, s.n_obs, s.sessions,
    s.fallback, s.computed_at_ns
);
