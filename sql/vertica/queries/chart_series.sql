-- name: chart_series
-- params: symbol, start_ns, end_ns, bar_seconds, row_limit
-- returns: bars of one symbol, newest first, for a chart: close, VPIN, jumps and signals, and the NBBO in force at
-- each bar's end; same columns and rules as sql/duckdb/queries/chart_series.sql (strictly before: the event
-- series join on effective_ns = ts_ns + 1, as in enriched_market_data)
SELECT
    b.bar_end_ns,
    b.close,
    b.vpin,
    b.jump_detected,
    b.log_return,
    b.trading_signal,
    CASE WHEN q.bid_price > 0 AND q.ask_price > q.bid_price AND q.ask_price < 'Infinity'::FLOAT
              AND b.bar_end_ns - q.ts_ns <= COALESCE(v.quote_stale_ns, b.bar_end_ns - q.ts_ns)
         THEN q.bid_price END AS bid_price,
    CASE WHEN q.bid_price > 0 AND q.ask_price > q.bid_price AND q.ask_price < 'Infinity'::FLOAT
              AND b.bar_end_ns - q.ts_ns <= COALESCE(v.quote_stale_ns, b.bar_end_ns - q.ts_ns)
         THEN q.ask_price END AS ask_price
FROM (
    SELECT bar_end_ns, close, vpin, jump_detected, log_return, trading_signal
    FROM trading_signals
    WHERE symbol = :symbol AND bar_seconds = :bar_seconds AND bar_end_ns >= :start_ns AND bar_end_ns < :end_ns
    ORDER BY bar_end_ns DESC
    LIMIT :row_limit
) AS b
LEFT OUTER JOIN (
    SELECT ts_ns, ts_ns + 1 AS effective_ns, bid_price, ask_price
    FROM quote_book
    WHERE symbol = :symbol AND ts_ns < :end_ns
) AS q
    ON b.bar_end_ns INTERPOLATE PREVIOUS VALUE q.effective_ns
CROSS JOIN (SELECT MAX(value) AS quote_stale_ns FROM view_settings WHERE name = 'quote_stale_ns') AS v
ORDER BY b.bar_end_ns DESC;
