-- name: clear_trade_conditions
-- returns: nothing; empties the reference table before load_trade_conditions refills it
DELETE FROM trade_conditions;
