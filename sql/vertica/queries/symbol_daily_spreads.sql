-- name: symbol_daily_spreads
-- params: symbols, start_ns, end_ns
-- returns: symbol, session_date, quoted_spread, effective_spread: per symbol and UTC day of [start_ns, end_ns)
-- Same rules and columns as sql/duckdb/queries/symbol_daily_spreads.sql. The prevailing quote of a print is the
-- event series join on effective_ns = ts_ns + 1 (strictly before, as in enriched_market_data) with quote_book.
SELECT
    COALESCE(q.symbol, e.symbol) AS symbol,
    COALESCE(q.session_date, e.session_date) AS session_date,
    q.quoted_spread,
    e.effective_spread
FROM (
    SELECT
        f.symbol,
        f.session_date,
        SUM(f.stands_ns * (f.ask_price - f.bid_price) / (0.5 * (f.ask_price + f.bid_price))) / SUM(f.stands_ns)
            AS quoted_spread
    FROM (
        SELECT
            b.symbol,
            TIMESTAMPADD('microsecond', b.ts_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE AS session_date,
            b.bid_price,
            b.ask_price,
            LEAST(COALESCE(LEAD(b.ts_ns) OVER (PARTITION BY b.symbol ORDER BY b.ts_ns), :end_ns),
                  b.ts_ns + COALESCE(v.quote_stale_ns, :end_ns),
                  (b.ts_ns // 86400000000000 + 1) * 86400000000000, :end_ns) - b.ts_ns AS stands_ns
        FROM (
            SELECT symbol, ts_ns, bid_price, ask_price
            FROM quote_book
            WHERE CONTAINS((:symbols)::ARRAY[VARCHAR(32)], symbol) AND ts_ns < :end_ns
        ) AS b
        CROSS JOIN (SELECT MAX(value) AS quote_stale_ns FROM view_settings WHERE name = 'quote_stale_ns') AS v
        WHERE b.ts_ns >= :start_ns - COALESCE(v.quote_stale_ns, :start_ns)
    ) AS f
    WHERE f.bid_price > 0 AND f.ask_price > f.bid_price AND f.ask_price < 'Infinity'::FLOAT AND f.stands_ns > 0
      AND f.session_date >= TIMESTAMPADD('microsecond', :start_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE
    GROUP BY f.symbol, f.session_date
) AS q
FULL OUTER JOIN (
    SELECT
        p.symbol,
        p.session_date,
        SUM(p.size * (2.0 * ABS(p.price - 0.5 * (p.bid_price + p.ask_price)) / (0.5 * (p.bid_price + p.ask_price))))
            / SUM(p.size) AS effective_spread
    FROM (
        SELECT
            m.symbol,
            TIMESTAMPADD('microsecond', m.ts_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE AS session_date,
            m.ts_ns,
            m.price,
            m.size,
            r.ts_ns AS quote_ts_ns,
            r.bid_price,
            r.ask_price
        FROM eligible_trades AS m
        LEFT OUTER JOIN (
            SELECT symbol, ts_ns, ts_ns + 1 AS effective_ns, bid_price, ask_price
            FROM quote_book
            WHERE CONTAINS((:symbols)::ARRAY[VARCHAR(32)], symbol) AND ts_ns < :end_ns
        ) AS r
            ON m.symbol = r.symbol AND m.ts_ns INTERPOLATE PREVIOUS VALUE r.effective_ns
        WHERE CONTAINS((:symbols)::ARRAY[VARCHAR(32)], m.symbol) AND m.ts_ns >= :start_ns AND m.ts_ns < :end_ns
          AND m.counts_volume
    ) AS p
    CROSS JOIN (SELECT MAX(value) AS quote_stale_ns FROM view_settings WHERE name = 'quote_stale_ns') AS v
    WHERE p.ts_ns - p.quote_ts_ns <= COALESCE(v.quote_stale_ns, p.ts_ns - p.quote_ts_ns)
      AND p.bid_price > 0 AND p.ask_price > p.bid_price AND p.ask_price < 'Infinity'::FLOAT
    GROUP BY p.symbol, p.session_date
) AS e
    ON e.symbol = q.symbol AND e.session_date = q.session_date
ORDER BY symbol, session_date;
