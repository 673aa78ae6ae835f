-- name: record
-- returns: nothing; adds the staged files of one chunk (the registered Arrow table archive_batch, the columns of
-- archive_manifest) to the manifest, in the transaction that deletes their rows from the live table
INSERT INTO archive_manifest SELECT * FROM archive_batch;
