-- name: attach_copy
-- returns: nothing; attaches the new file __TARGET__ (a quoted literal, sql/compact.py) as compacted
ATTACH __TARGET__ AS compacted;
