-- name: symbol_daily_spreads
-- params: symbols, start_ns, end_ns
-- returns: symbol, session_date, quoted_spread, effective_spread: per symbol and UTC day of [start_ns, end_ns)
-- (get_symbol_metrics merges them into its rows by symbol and day)
-- quoted_spread: the time-weighted relative quoted spread (a - b) / m, m = (a + b) / 2, of the quotes in force:
-- each quote (the last in SIP order of those sharing a stamp) counts from its stamp until the next quote, the
-- stale limit (view_settings) or the end of its UTC day, whichever comes first, when it is two-sided and
-- neither locked nor crossed. effective_spread: the volume-weighted 2 |p - m| / m of the prints that count in
-- volume against their prevailing quote (the newest strictly before, usable: as enriched_market_data's).
-- Floating sums are fsum (compensated): the same last bits whatever order DuckDB's threads add the rows in.
WITH limits AS (
    SELECT max(value) AS stale_ns FROM view_settings WHERE name = 'quote_stale_ns'
),
book AS (   -- the quotes from the stale limit before the window
    SELECT symbol, ts_ns, bid_price AS bid, ask_price AS ask
    FROM quote_book
    WHERE list_contains($symbols, symbol)
      AND ts_ns >= $start_ns - coalesce((SELECT stale_ns FROM limits), $start_ns) AND ts_ns < $end_ns
),
in_force AS (   -- each quote of the window with the time it stands, within its UTC day
    SELECT
        symbol,
        CAST(make_timestamp(ts_ns // 1000) AS DATE) AS session_date,
        bid,
        ask,
        least(coalesce(lead(ts_ns) OVER (PARTITION BY symbol ORDER BY ts_ns), $end_ns),
              ts_ns + coalesce((SELECT stale_ns FROM limits), $end_ns),
              (ts_ns // 86400000000000 + 1) * 86400000000000, $end_ns) - ts_ns AS stands_ns
    FROM book
),
quoted AS (
    SELECT
        symbol,
        session_date,
        fsum(stands_ns * (ask - bid) / (0.5 * (ask + bid))) / sum(stands_ns) AS quoted_spread
    FROM in_force
    WHERE bid > 0 AND ask > bid AND ask < 'inf'::DOUBLE AND stands_ns > 0
      AND session_date >= CAST(make_timestamp($start_ns // 1000) AS DATE)
    GROUP BY symbol, session_date
),
prints AS (   -- the window's prints that count in volume, with their prevailing quote
    SELECT
        m.symbol,
        CAST(make_timestamp(m.ts_ns // 1000) AS DATE) AS session_date,
        m.price,
        m.size,
        q.bid,
        q.ask
    FROM eligible_trades AS m
    ASOF JOIN book AS q ON q.symbol = m.symbol AND m.ts_ns > q.ts_ns
    WHERE list_contains($symbols, m.symbol) AND m.ts_ns >= $start_ns AND m.ts_ns < $end_ns AND m.counts_volume
      AND m.ts_ns - q.ts_ns <= coalesce((SELECT stale_ns FROM limits), m.ts_ns - q.ts_ns)
      AND q.bid > 0 AND q.ask > q.bid AND q.ask < 'inf'::DOUBLE
),
effective AS (
    SELECT
        symbol,
        session_date,
        fsum(size * (2.0 * abs(price - 0.5 * (bid + ask)) / (0.5 * (bid + ask)))) / fsum(size) AS effective_spread
    FROM prints
    GROUP BY symbol, session_date
)
SELECT
    coalesce(q.symbol, e.symbol) AS symbol,
    coalesce(q.session_date, e.session_date) AS session_date,
    q.quoted_spread,
    e.effective_spread
FROM quoted AS q
FULL OUTER JOIN effective AS e ON e.symbol = q.symbol AND e.session_date = q.session_date
ORDER BY symbol, session_date;
