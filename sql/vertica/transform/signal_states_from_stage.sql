-- name: signal_states_from_stage
-- params: updated_ns
-- returns: the number of states written: the state the UDx emitted with each symbol's last new bar
MERGE INTO signal_state AS t
USING (
    SELECT symbol, bar_seconds, bar_end_ns AS last_bar_end_ns, state, :updated_ns AS updated_ns
    FROM trading_signals_stage
    WHERE state IS NOT NULL
) AS s
ON t.symbol = s.symbol AND t.bar_seconds = s.bar_seconds
WHEN MATCHED THEN UPDATE SET last_bar_end_ns = s.last_bar_end_ns, state = s.state, updated_ns = s.updated_ns
WHEN NOT MATCHED THEN INSERT (symbol, bar_seconds, last_bar_end_ns, state, updated_ns)
    VALUES (s.symbol, s.bar_seconds, s.last_bar_end_ns, s.state, s.updated_ns);
