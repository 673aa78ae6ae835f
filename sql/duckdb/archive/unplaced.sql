-- name: unplaced
-- returns: archived_at_ns, path, staged_path, sha256 of every archived file not yet moved to its place (a run
-- stopped between the commit and the move)
SELECT archived_at_ns, path, staged_path, sha256 FROM archive_manifest WHERE NOT placed ORDER BY archived_at_ns, path;
