-- name: load_trade_conditions
-- returns: nothing; replaces the reference rows with those of the registered table trade_conditions_stage
INSERT INTO trade_conditions SELECT code, name, updates_last, updates_high_low, updates_volume FROM trade_conditions_stage;
