-- name: insert_quotes
-- returns: the number of rows added
INSERT INTO quotes SELECT * FROM quotes_batch;
