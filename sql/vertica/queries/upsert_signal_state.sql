-- name: upsert_signal_state
-- params: symbol, bar_seconds, last_bar_end_ns, state, updated_ns
MERGE INTO signal_state AS t
USING (
    SELECT :symbol AS symbol, :bar_seconds AS bar_seconds, :last_bar_end_ns AS last_bar_end_ns,
           (:state)::LONG VARCHAR(1048576) AS state, :updated_ns AS updated_ns
) AS s
ON t.symbol = s.symbol AND t.bar_seconds = s.bar_seconds
WHEN MATCHED THEN UPDATE SET last_bar_end_ns = s.last_bar_end_ns, state = s.state, updated_ns = s.updated_ns
WHEN NOT MATCHED THEN INSERT (symbol, bar_seconds, last_bar_end_ns, state, updated_ns)
    VALUES (s.symbol, s.bar_seconds, s.last_bar_end_ns, s.state, s.updated_ns);
