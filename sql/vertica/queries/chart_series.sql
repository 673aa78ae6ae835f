-- name: chart_series
-- params: symbol, start_ns, end_ns, bar_seconds, row_limit
-- returns: bars of one symbol in time order, for a chart: close, VPIN, jumps and signals
SELECT bar_end_ns, close, vpin, jump_detected, log_return, trading_signal
FROM trading_signals
WHERE symbol = :symbol AND bar_seconds = :bar_seconds AND bar_end_ns >= :start_ns AND bar_end_ns < :end_ns
ORDER BY bar_end_ns DESC
LIMIT :row_limit;
