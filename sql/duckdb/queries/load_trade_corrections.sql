-- name: load_trade_corrections
-- returns: nothing; replaces the reference rows with those of the registered table trade_corrections_stage
INSERT INTO trade_corrections SELECT code, kept FROM trade_corrections_stage;
