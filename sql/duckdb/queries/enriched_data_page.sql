-- name: enriched_data_page
-- params: symbol, start_ns, end_ns, bar_seconds, after_ts_ns, after_exchange, after_trade_id, row_limit
-- returns: trades of one symbol with their quotes, sides and signals, newest first; keyset cursor
-- (ts_ns, exchange, trade_id)
-- The rows of the view enriched_market_data, computed for the page only: first the keys of the newest
-- row_limit trades (market_data is stored in time order, so a top-N on ts_ns reads the newest row groups
-- only, and only the key columns), then every trade of the page's time span (the tick rule runs over them),
-- as-of joined with the quotes from the last one before the span and with the few bars they need. The tick
-- rule starts from the state the view has at the span's start: the last price-setting print before it and
-- the last one before that with another price (the sign of the last change), both searched among the 1,000
-- trades before the page (whole stamps), which the page's own top-N finds with it (a top-N on bound values
-- reads the newest row groups only; one on a value computed in the query does not); searching the whole
-- history through eligible_trades took seconds a page on the 50M-trade bench file. So the page equals the view
-- unless the last price change (or the last price-setting print) before the page lies more than 1,000 trades
-- back; then its first trades until the next change get side 0 where the view has the older tick.
WITH grid AS (   -- as in the view: the grid's rows when it has bars; NULL signals before any bar exists
    SELECT CAST($bar_seconds AS INTEGER) AS bar_seconds
    WHERE EXISTS (SELECT 1 FROM trading_signals WHERE bar_seconds = $bar_seconds)
    UNION ALL
    SELECT NULL WHERE NOT EXISTS (SELECT 1 FROM trading_signals)
),
keyed AS (   -- the keys of the page and of the 1,000 trades before it, reading only the key columns
    SELECT ts_ns, exchange, trade_id
    FROM market_data
    WHERE symbol = $symbol
      AND ts_ns < $end_ns
      AND ($after_ts_ns IS NULL OR (ts_ns, exchange, trade_id) < ($after_ts_ns, $after_exchange, $after_trade_id))
    ORDER BY ts_ns DESC, exchange DESC, trade_id DESC
    LIMIT $row_limit + 1000
),
page AS (   -- the page's keys
    SELECT ts_ns, exchange, trade_id
    FROM keyed
    WHERE ts_ns >= $start_ns
    ORDER BY ts_ns DESC, exchange DESC, trade_id DESC
    LIMIT $row_limit
),
span AS (
    SELECT min(ts_ns) AS lo, max(ts_ns) AS hi FROM page
),
recent AS (   -- the trades before the span among those keys (the page's own cut)
    SELECT ts_ns FROM keyed WHERE ts_ns < (SELECT lo FROM span)
),
before_span AS (   -- their price-setting prints (whole stamps: from the oldest one's stamp on)
    SELECT ts_ns, sequence, exchange, trade_id, price
    FROM eligible_trades
    WHERE symbol = $symbol AND sets_price
      AND ts_ns >= (SELECT min(ts_ns) FROM recent) AND ts_ns < (SELECT lo FROM span)
),
prior AS (   -- the last price-setting print before the span
    SELECT price
    FROM before_span
    ORDER BY ts_ns DESC, COALESCE(sequence, 9223372036854775807) DESC, exchange DESC, trade_id DESC
    LIMIT 1
),
prior_change AS (   -- the sign of the last price change before the span
    SELECT sign((SELECT price FROM prior) - price) AS tick
    FROM before_span
    WHERE price <> (SELECT price FROM prior)
    ORDER BY ts_ns DESC, COALESCE(sequence, 9223372036854775807) DESC, exchange DESC, trade_id DESC
    LIMIT 1
),
limits AS (
    SELECT max(value) AS stale_ns FROM view_settings WHERE name = 'quote_stale_ns'
),
quote_older AS (   -- a quote older than the stale limit before the span: then a trade without one in the window
    SELECT 1         -- has a stale quote (any such quote will do: the scan stops at the first)
    FROM quotes
    WHERE symbol = $symbol AND ts_ns < (SELECT lo - coalesce(stale_ns, lo) FROM span, limits)
    LIMIT 1
),
book AS (   -- the quotes from the stale limit before the span to its end, one per stamp as in quote_book (restated
    SELECT     -- here: the range filter must reach the quotes before the grouping, which it does not through the view)
        ts_ns,
        arg_max(bid_price, (COALESCE(sequence, 9223372036854775807), received_ns, bid_price, ask_price)) AS bid,
        arg_max(ask_price, (COALESCE(sequence, 9223372036854775807), received_ns, bid_price, ask_price)) AS ask
    FROM quotes
    WHERE symbol = $symbol AND ts_ns < (SELECT hi FROM span)
      AND ts_ns >= (SELECT lo - coalesce(stale_ns, lo) FROM span, limits)
    GROUP BY ts_ns
),
span_trades AS (   -- the span's trades with the eligibility flags of eligible_trades
    SELECT *
    FROM eligible_trades
    WHERE symbol = $symbol AND ts_ns >= (SELECT lo FROM span) AND ts_ns <= (SELECT hi FROM span)
),
quoted AS (   -- with their prevailing quote
    SELECT
        m.*,
        q.ts_ns AS quote_ts_ns,
        CASE WHEN q.bid > 0 AND q.bid < 'inf'::DOUBLE THEN q.bid END AS bid,
        CASE WHEN q.ask > 0 AND q.ask < 'inf'::DOUBLE THEN q.ask END AS ask,
        coalesce(lag(CASE WHEN m.sets_price THEN m.price END IGNORE NULLS) OVER w, (SELECT price FROM prior))
            AS last_price
    FROM span_trades AS m
    ASOF LEFT JOIN book AS q ON m.ts_ns > q.ts_ns
    WINDOW w AS (ORDER BY m.ts_ns, COALESCE(m.sequence, 9223372036854775807), m.exchange, m.trade_id)
),
flagged AS (
    SELECT
        t.*,
        CASE
            WHEN t.quote_ts_ns IS NULL THEN CASE WHEN EXISTS (SELECT 1 FROM quote_older) THEN 2 ELSE 1 END
            WHEN t.ts_ns - t.quote_ts_ns > (SELECT stale_ns FROM limits) THEN 2
            WHEN t.bid IS NULL OR t.ask IS NULL THEN 4
            WHEN t.bid = t.ask THEN 8
            WHEN t.bid > t.ask THEN 16
            ELSE 0
        END AS nbbo_flags,
        CASE WHEN t.sets_price AND t.price <> t.last_price THEN sign(t.price - t.last_price) END AS change
    FROM quoted AS t
),
signed AS (
    SELECT
        f.*,
        CASE WHEN NOT f.sets_price AND f.price <> f.last_price THEN sign(f.price - f.last_price)
             ELSE coalesce(last_value(f.change IGNORE NULLS) OVER w, (SELECT tick FROM prior_change), 0)
        END AS tick_side,
        2.0 * f.price - f.bid - f.ask AS mid_gap
    FROM flagged AS f
    WINDOW w AS (ORDER BY f.ts_ns, COALESCE(f.sequence, 9223372036854775807), f.exchange, f.trade_id
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
),
trades AS (   -- the page's trades
    SELECT
        s.* EXCLUDE (bid, ask, quote_ts_ns, last_price, nbbo_flags, change, tick_side, mid_gap),
        CASE WHEN s.nbbo_flags NOT IN (1, 2) THEN s.bid END AS bid_price,   -- none when no quote is in force
        CASE WHEN s.nbbo_flags NOT IN (1, 2) THEN s.ask END AS ask_price,
        CAST(CASE WHEN s.nbbo_flags <> 0 THEN s.tick_side
                  WHEN s.mid_gap > 1e-9 * s.price THEN 1
                  WHEN s.mid_gap < -1e-9 * s.price THEN -1
                  ELSE s.tick_side END AS TINYINT) AS trade_side,
        CAST(s.nbbo_flags + CASE WHEN s.nbbo_flags <> 0 THEN 64
                                 WHEN abs(s.mid_gap) <= 1e-9 * s.price THEN 32 ELSE 0 END AS UTINYINT)
            AS quote_flags,
        CASE WHEN s.nbbo_flags = 0
             THEN 2.0 * abs(s.price - 0.5 * (s.bid + s.ask)) / (0.5 * (s.bid + s.ask)) END AS effective_spread
    FROM signed AS s
    SEMI JOIN page ON s.ts_ns = page.ts_ns AND s.exchange = page.exchange AND s.trade_id = page.trade_id
),
bars AS (   -- from the last bar before the page's oldest trade to its newest trade
    SELECT *
    FROM trading_signals
    WHERE symbol = $symbol AND bar_seconds = $bar_seconds
      AND bar_end_ns <= (SELECT hi FROM span)
      AND bar_end_ns >= coalesce((SELECT max(bar_end_ns) FROM trading_signals
                                  WHERE symbol = $symbol AND bar_seconds = $bar_seconds
                                    AND bar_end_ns <= (SELECT lo FROM span)), 0)
)
SELECT
    m.market,
    m.symbol,
    m.ts_ns,
    make_timestamp(m.ts_ns // 1000) AS ts,
    m.price,
    m.size,
    m.exchange,
    m.trade_id,
    m.conditions,
    m.correction,
    m.sets_price,
    m.counts_volume,
    m.received_ns,
    m.source,
    m.bid_price,
    m.ask_price,
    m.trade_side,
    m.quote_flags,
    m.effective_spread,
    g.bar_seconds,
    s.bar_end_ns AS signal_bar_end_ns,
    s.close AS bar_close,
    s.vwap AS bar_vwap,
    s.log_return,
    s.garch_sigma,
    s.standardized_return,
    s.lee_mykland_stat,
    s.jump_threshold,
    s.jump_detected,
    s.bns_stat,
    s.trade_intensity_zscore,
    s.conditional_duration,
    s.acd_surprise,
    s.vpin,
    s.vpin_cdf,
    s.trading_signal,
    s.signal_reason
FROM trades AS m
CROSS JOIN grid AS g
ASOF LEFT JOIN bars AS s
    ON s.symbol = m.symbol AND s.bar_seconds = g.bar_seconds AND m.ts_ns >= s.bar_end_ns
ORDER BY m.ts_ns DESC, m.exchange DESC, m.trade_id DESC;
