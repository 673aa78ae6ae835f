-- name: checkpoint
-- returns: nothing; writes the WAL into the file first, so the copy and the size measured are the file's
CHECKPOINT;
