-- name: data_version
-- returns: one row that changes whenever the data the server reads changes (a transform commit, new trades)
-- For the server's response cache: every commit of signals stamps signal_state.updated_ns, and the row
-- counts catch trades (and bars, and bar_realized_spread rows written after the commit) added without one. Cheap: aggregates answered from table statistics.
SELECT
    (SELECT max(updated_ns) FROM signal_state) AS signals_updated_ns,
    (SELECT count(*) FROM market_data) AS trades,
    (SELECT count(*) FROM trading_signals) AS bars,
    (SELECT count(*) FROM bar_realized_spread) AS realized_bars;
