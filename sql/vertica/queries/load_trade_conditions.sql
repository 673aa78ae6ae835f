-- name: load_trade_conditions
-- returns: nothing; fills trade_conditions from trade_conditions_stage (the shipped rows, COPY)
INSERT INTO trade_conditions (code, name, updates_last, updates_high_low, updates_volume) SELECT code, name, updates_last, updates_high_low, updates_volume FROM trade_conditions_stage;
