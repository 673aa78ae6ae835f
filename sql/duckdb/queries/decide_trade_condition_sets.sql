-- name: decide_trade_condition_sets
-- returns: nothing; sets the rules of every listed string to those of the registered table condition_sets_stage
-- (sql.conditions.condition_sets_table of every listed string, decided by the code now running)
UPDATE trade_condition_sets AS t
SET updates_last = s.updates_last, updates_high_low = s.updates_high_low, updates_volume = s.updates_volume
FROM condition_sets_stage AS s
WHERE t.conditions = s.conditions;
