-- name: delete_realized_other_horizon
-- params: bar_seconds, horizon_seconds
-- returns: rows deleted: bar_realized_spread rows of another horizon than LIQUIDITY_HORIZON_SECONDS (a changed
-- setting recomputes them, as changed signal settings recompute trading_signals)
DELETE FROM bar_realized_spread WHERE bar_seconds = :bar_seconds AND horizon_seconds <> :horizon_seconds;
