-- name: detach_copy
-- returns: nothing; closes the new file (written to disk by the checkpoint DETACH makes)
DETACH compacted;
