-- name: copy_database
-- returns: nothing; copies every table, view and sequence of the open file (its catalog name __TARGET__, a quoted
-- identifier) into compacted: only the live rows, in freshly written blocks
COPY FROM DATABASE __TARGET__ TO compacted;
