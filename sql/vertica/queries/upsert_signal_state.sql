-- name: upsert_signal_state
-- returns: the number of states written; source: signal_state_stage, filled by COPY in the same transaction
MERGE INTO signal_state AS t
USING signal_state_stage AS s
ON t.symbol = s.symbol AND t.bar_seconds = s.bar_seconds
WHEN MATCHED THEN UPDATE SET last_bar_end_ns = s.last_bar_end_ns, state = s.state, updated_ns = s.updated_ns
WHEN NOT MATCHED THEN INSERT (symbol, bar_seconds, last_bar_end_ns, state, updated_ns)
    VALUES (s.symbol, s.bar_seconds, s.last_bar_end_ns, s.state, s.updated_ns);
