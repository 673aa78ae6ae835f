-- name: enriched_market_data
-- returns: each trade with the signals of the last bar completed before it (as-of join)
-- A bar [bar_end_ns - bar_seconds, bar_end_ns) is complete at bar_end_ns, so a trade at ts_ns sees the newest
-- bar with bar_end_ns <= ts_ns: Vertica's event series join INTERPOLATE PREVIOUS VALUE pads each trade with
-- the previous (or equal) bar of the same symbol and grid. One row per trade per computed grid
-- (bar_seconds); signal columns are NULL for trades before the symbol's first completed bar (and bar_seconds
-- too while no bar exists). Same columns and meaning as sql/duckdb/views/010_enriched_market_data.sql.
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
    SELECT t.market, t.symbol, t.ts_ns, t.price, t.size, t.exchange, t.trade_id, t.conditions, t.correction,
           t.sets_price, t.counts_volume, t.received_ns, t.source, g.bar_seconds
    FROM eligible_trades AS t
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
