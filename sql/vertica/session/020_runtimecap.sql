-- name: runtimecap
-- params: runtimecap
-- returns: nothing; a statement of this session running longer than the interval (e.g. '5000 milliseconds')
-- is cancelled by Vertica (MCP_QUERY_TIMEOUT_MS)
SET SESSION RUNTIMECAP :runtimecap;
