-- name: load_trade_corrections
-- returns: nothing; fills trade_corrections from trade_corrections_stage (the shipped rows, COPY)
INSERT INTO trade_corrections (code, kept) SELECT code, kept FROM trade_corrections_stage;
