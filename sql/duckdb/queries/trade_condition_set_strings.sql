-- name: trade_condition_set_strings
-- returns: conditions, one row per string the lookup table trade_condition_sets lists
SELECT conditions FROM trade_condition_sets;
