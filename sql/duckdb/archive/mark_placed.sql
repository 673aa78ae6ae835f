-- name: mark_placed
-- params: archived_at_ns
-- returns: nothing; every file of the chunk archived at archived_at_ns is in its place
UPDATE archive_manifest SET placed = true WHERE archived_at_ns = $archived_at_ns;
