-- name: clear_trade_corrections
-- returns: nothing; empties the reference table before load_trade_corrections refills it
DELETE FROM trade_corrections;
