-- name: read_only
-- returns: nothing; every later transaction of the session is READ ONLY (the server's reader sessions)
SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY;
