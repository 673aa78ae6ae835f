-- name: add_trade_condition_sets
-- returns: nothing; adds the rows of the registered table condition_sets_stage (sql.conditions.condition_sets_table)
-- whose string the lookup does not list yet
INSERT OR IGNORE INTO trade_condition_sets
SELECT conditions, updates_last, updates_high_low, updates_volume FROM condition_sets_stage;
