-- name: enriched_market_data_between_grid
-- returns: (table macro) the rows of enriched_market_data of one symbol with start_ns <= ts_ns < end_ns and of one
-- grid, in no order: the same columns and values, computed from that window only. The body of the public macro
-- enriched_market_data_between(ticker, start_ns, end_ns) (012_..., grid NULL: every grid) and what
-- get_enriched_data's page reads (its own name, so that a reader of a file whose writer predates the grid argument
-- finds it missing and stands the newest macros in: sql/duckdb_backend.py _reader_stand_ins).
-- Why: the view's tick rule is a window over each symbol's whole history, so a time filter on the view cannot go
-- below it and every query reads the symbol's every trade (bench/bench_enriched_quotes.py). Here:
-- * the tick rule starts from the view's state at start_ns: the last price-setting print before it (last price)
--   and the sign of the last price change before it, searched first among the prints from the stamp of the
--   1,000th trade before start_ns on (a top-N on market_data's keys, which reads the newest row groups before
--   start_ns only); only when those hold no price-setting print or no change is the rest of the history searched
--   (its bound is then that stamp; otherwise it is below every trade, and the scan prunes everything);
-- * the quotes come from QUOTE_STALE_SECONDS (view_settings) before start_ns on, one per stamp as quote_book: an
--   older quote is stale at every trade of the window, so a trade without a quote among them has flag 2 when any
--   older quote exists, else 1 (without the setting, every earlier quote is read, as the view does);
-- * the bars of each grid from its last one ending at or before start_ns;
-- * grid: NULL for every grid, as the view; else one bar_seconds, and then the view's rows with
--   bar_seconds = grid OR bar_seconds IS NULL (NULL only while trading_signals is empty). Bound as a value, it
--   spares the SELECT DISTINCT bar_seconds over every bar of trading_signals (a scan of the whole table each
--   call: DuckDB folds the bound value and drops that branch) and reads the symbol's bars of that grid only.
-- Pass constants or bound values as the bounds (DuckDB's top-N and zone maps do not prune on values computed in
-- the query), grid included.
-- tests/sql/test_enriched_between.py compares it with the view on random windows, with and without grid.
-- get_enriched_data's page reads it over the page's span with its grid (sql/duckdb/queries/enriched_data_page.sql).
CREATE OR REPLACE MACRO enriched_market_data_between_grid(ticker, start_ns, end_ns, grid) AS TABLE
WITH limits AS (
    SELECT max(value) AS stale_ns FROM view_settings WHERE name = 'quote_stale_ns'
),
looked_back AS (   -- the stamp of the 1,000th trade before the window (NULL: none before it)
    SELECT min(ts_ns) AS ts_ns
    FROM (SELECT ts_ns FROM market_data WHERE symbol = ticker AND ts_ns < start_ns ORDER BY ts_ns DESC LIMIT 1000)
),
near_setters AS (   -- the price-setting prints from that stamp to the window
    SELECT ts_ns, sequence, exchange, trade_id, price
    FROM eligible_trades
    WHERE symbol = ticker AND sets_price AND ts_ns < start_ns AND ts_ns >= (SELECT ts_ns FROM looked_back)
),
near_last AS (
    SELECT price FROM near_setters
    ORDER BY ts_ns DESC, COALESCE(sequence, 9223372036854775807) DESC, exchange DESC, trade_id DESC
    LIMIT 1
),
older_bound AS (   -- the rest of the history only when the look-back holds no print or no change
    SELECT CASE
        WHEN NOT EXISTS (SELECT 1 FROM near_setters WHERE price <> (SELECT price FROM near_last))
        THEN (SELECT ts_ns FROM looked_back)
        ELSE -9223372036854775807 END AS ts_ns
),
setters AS (
    SELECT * FROM near_setters
    UNION ALL
    SELECT ts_ns, sequence, exchange, trade_id, price
    FROM eligible_trades
    WHERE symbol = ticker AND sets_price AND ts_ns < (SELECT ts_ns FROM older_bound)
),
prior AS (   -- the last price-setting print before the window
    SELECT price FROM setters
    ORDER BY ts_ns DESC, COALESCE(sequence, 9223372036854775807) DESC, exchange DESC, trade_id DESC
    LIMIT 1
),
prior_change AS (   -- the sign of the last price change before the window
    SELECT sign((SELECT price FROM prior) - price) AS tick
    FROM setters
    WHERE price <> (SELECT price FROM prior)
    ORDER BY ts_ns DESC, COALESCE(sequence, 9223372036854775807) DESC, exchange DESC, trade_id DESC
    LIMIT 1
),
quote_older AS (   -- any quote older than the stale limit before the window (the scan stops at the first)
    SELECT 1
    FROM quotes
    WHERE symbol = ticker AND ts_ns < start_ns - (SELECT coalesce(stale_ns, start_ns) FROM limits)
    LIMIT 1
),
book AS (   -- quote_book's rows of the symbol from the stale limit before the window to its end
    SELECT
        ts_ns,
        arg_max(bid_price, (COALESCE(sequence, 9223372036854775807), received_ns, bid_price, ask_price)) AS bid,
        arg_max(ask_price, (COALESCE(sequence, 9223372036854775807), received_ns, bid_price, ask_price)) AS ask
    FROM quotes
    WHERE symbol = ticker AND ts_ns < end_ns
      AND ts_ns >= start_ns - (SELECT coalesce(stale_ns, start_ns) FROM limits)
    GROUP BY ts_ns
),
quoted AS (   -- the window's trades with their prevailing quote and the last price-setting print before each
    SELECT
        m.*,
        q.ts_ns AS quote_ts_ns,
        CASE WHEN q.bid > 0 AND q.bid < 'inf'::DOUBLE THEN q.bid END AS bid,
        CASE WHEN q.ask > 0 AND q.ask < 'inf'::DOUBLE THEN q.ask END AS ask,
        coalesce(lag(CASE WHEN m.sets_price THEN m.price END IGNORE NULLS) OVER w, (SELECT price FROM prior))
            AS last_price
    FROM (SELECT * FROM eligible_trades WHERE symbol = ticker AND ts_ns >= start_ns AND ts_ns < end_ns) AS m
    ASOF LEFT JOIN book AS q ON m.ts_ns > q.ts_ns
    WINDOW w AS (ORDER BY m.ts_ns, COALESCE(m.sequence, 9223372036854775807), m.exchange, m.trade_id)
),
flagged AS (
    SELECT
        t.*,
        nbbo_flags(CASE WHEN EXISTS (SELECT 1 FROM quote_older) THEN 2 ELSE 1 END, t.quote_ts_ns, t.ts_ns, (SELECT stale_ns FROM limits), t.bid, t.ask)
            AS nbbo_flags,
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
trades AS (
    SELECT
        s.* EXCLUDE (bid, ask, quote_ts_ns, last_price, nbbo_flags, change, tick_side, mid_gap),
        CASE WHEN s.nbbo_flags NOT IN (1, 2) THEN s.bid END AS bid_price,   -- none when no quote is in force
        CASE WHEN s.nbbo_flags NOT IN (1, 2) THEN s.ask END AS ask_price,
        trade_side(s.nbbo_flags, s.mid_gap, s.price, s.tick_side) AS trade_side,
        quote_flags(s.nbbo_flags, s.mid_gap, s.price) AS quote_flags,
        effective_spread(s.nbbo_flags, s.price, s.bid, s.ask) AS effective_spread
    FROM signed AS s
),
grids AS (   -- the view's grids (every bar_seconds of trading_signals), or grid alone when it has bars
    SELECT DISTINCT bar_seconds FROM trading_signals WHERE grid IS NULL
    UNION ALL
    SELECT CAST(grid AS INTEGER)
    WHERE grid IS NOT NULL AND EXISTS (SELECT 1 FROM trading_signals WHERE bar_seconds = grid)
    UNION ALL
    SELECT NULL WHERE NOT EXISTS (SELECT 1 FROM trading_signals)   -- trades still show before any bar
),
bars AS (   -- each grid's bars from the last one ending at or before the window's start
    SELECT *
    FROM trading_signals
    WHERE symbol = ticker AND (grid IS NULL OR bar_seconds = grid) AND bar_end_ns < end_ns
      AND bar_end_ns >= coalesce((SELECT min(last_end) FROM (
              SELECT max(bar_end_ns) AS last_end FROM trading_signals
              WHERE symbol = ticker AND (grid IS NULL OR bar_seconds = grid) AND bar_end_ns <= start_ns
              GROUP BY bar_seconds)), -9223372036854775807)
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
CROSS JOIN grids AS g
ASOF LEFT JOIN bars AS s
    ON s.symbol = m.symbol AND s.bar_seconds = g.bar_seconds AND m.ts_ns >= s.bar_end_ns;
