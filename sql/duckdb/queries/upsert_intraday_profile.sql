-- name: upsert_intraday_profile
-- returns: the number of rows written; a recomputed profile replaces the stored one
INSERT OR REPLACE INTO intraday_profile SELECT * FROM intraday_profile_batch;
