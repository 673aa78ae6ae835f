-- name: enriched_market_data
-- returns: each trade with its prevailing quote, its Lee-Ready side and the signals of the last bar completed
-- before it (as-of joins)
-- A bar [bar_end_ns - bar_seconds, bar_end_ns) is complete at bar_end_ns, so a trade at ts_ns sees the newest
-- bar with bar_end_ns <= ts_ns: Vertica's event series join INTERPOLATE PREVIOUS VALUE pads each trade with
-- the previous (or equal) bar of the same symbol and grid. One row per trade per computed grid
-- (bar_seconds); signal columns are NULL for trades before the symbol's first completed bar (and bar_seconds
-- too while no bar exists). Same columns and meaning as sql/duckdb/views/010_enriched_market_data.sql,
-- quote columns included (its header states the rules).
-- The prevailing quote is the newest STRICTLY BEFORE the trade, but INTERPOLATE PREVIOUS VALUE matches an
-- equal value first and pads with the previous one only when none is equal (at or before). So each quote joins
-- at effective_ns = ts_ns + 1, its first nanosecond in force: a quote stamped at the trade's own ns then
-- counts only for later trades (ts_ns are integers, so effective_ns <= trade ns <=> ts_ns < trade ns). The
-- quotes come from quote_book (one per symbol and stamp), so an equal match is one row.
CREATE OR REPLACE VIEW enriched_market_data AS
SELECT
    m.market,
    m.symbol,
    m.ts_ns,
    TIMESTAMPADD('microsecond', m.ts_ns // 1000, TIMESTAMP '1970-01-01 00:00:00') AS ts,
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
    m.bar_seconds,
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
FROM (
    SELECT
        d.market, d.symbol, d.ts_ns, d.price, d.size, d.exchange, d.trade_id, d.conditions, d.correction,
        d.sets_price, d.counts_volume, d.received_ns, d.source,
        CASE WHEN d.nbbo_flags NOT IN (1, 2) THEN d.bid END AS bid_price,
        CASE WHEN d.nbbo_flags NOT IN (1, 2) THEN d.ask END AS ask_price,
        CASE WHEN d.nbbo_flags <> 0 THEN d.tick_side
             WHEN d.mid_gap > 1e-9 * d.price THEN 1
             WHEN d.mid_gap < -1e-9 * d.price THEN -1
             ELSE d.tick_side END AS trade_side,
        d.nbbo_flags + CASE WHEN d.nbbo_flags <> 0 THEN 64
                            WHEN ABS(d.mid_gap) <= 1e-9 * d.price THEN 32 ELSE 0 END AS quote_flags,
        CASE WHEN d.nbbo_flags = 0
             THEN 2.0 * ABS(d.price - 0.5 * (d.bid + d.ask)) / (0.5 * (d.bid + d.ask)) END AS effective_spread,
        g.bar_seconds
    FROM (
        SELECT
            f.*,
            CASE WHEN NOT f.sets_price AND f.price > f.last_price THEN 1
                 WHEN NOT f.sets_price AND f.price < f.last_price THEN -1
                 ELSE COALESCE(LAST_VALUE(f.change IGNORE NULLS) OVER (
                          PARTITION BY f.symbol
                          ORDER BY f.ts_ns, COALESCE(f.sequence, 9223372036854775807), f.exchange, f.trade_id
                          ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW), 0) END AS tick_side,
            2.0 * f.price - f.bid - f.ask AS mid_gap
        FROM (
            SELECT
                t.*,
                CASE
                    WHEN t.quote_ts_ns IS NULL THEN 1
                    WHEN t.ts_ns - t.quote_ts_ns > v.quote_stale_ns THEN 2
                    WHEN t.bid IS NULL OR t.ask IS NULL THEN 4
                    WHEN t.bid = t.ask THEN 8
                    WHEN t.bid > t.ask THEN 16
                    ELSE 0
                END AS nbbo_flags,
                CASE WHEN t.sets_price AND t.price > t.last_price THEN 1
                     WHEN t.sets_price AND t.price < t.last_price THEN -1 END AS change
            FROM (
                SELECT
                    e.market, e.symbol, e.ts_ns, e.price, e.size, e.exchange, e.trade_id, e.conditions,
                    e.correction, e.sets_price, e.counts_volume, e.received_ns, e.source, e.sequence,
                    q.ts_ns AS quote_ts_ns,
                    CASE WHEN q.bid_price > 0 AND q.bid_price < 'Infinity'::FLOAT THEN q.bid_price END AS bid,
                    CASE WHEN q.ask_price > 0 AND q.ask_price < 'Infinity'::FLOAT THEN q.ask_price END AS ask,
                    LAST_VALUE(CASE WHEN e.sets_price THEN e.price END IGNORE NULLS) OVER (
                        PARTITION BY e.symbol
                        ORDER BY e.ts_ns, COALESCE(e.sequence, 9223372036854775807), e.exchange, e.trade_id
                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS last_price
                FROM eligible_trades AS e
                LEFT OUTER JOIN (   -- one quote per symbol and stamp, joined from its first ns in force
                    SELECT symbol, ts_ns, ts_ns + 1 AS effective_ns, bid_price, ask_price FROM quote_book
                ) AS q
                    ON e.symbol = q.symbol AND e.ts_ns INTERPOLATE PREVIOUS VALUE q.effective_ns
            ) AS t
            CROSS JOIN (SELECT MAX(value) AS quote_stale_ns FROM view_settings WHERE name = 'quote_stale_ns') AS v
        ) AS f
    ) AS d
    CROSS JOIN (
        SELECT DISTINCT bar_seconds FROM trading_signals
        UNION ALL
        -- trades still show before any bar exists
        SELECT NULL::INTEGER AS bar_seconds
        FROM (SELECT COUNT(*) AS n FROM trading_signals) AS c
        WHERE c.n = 0
    ) AS g
) AS m
LEFT OUTER JOIN trading_signals AS s
    ON m.symbol = s.symbol AND m.bar_seconds = s.bar_seconds
   AND m.ts_ns INTERPOLATE PREVIOUS VALUE s.bar_end_ns;
