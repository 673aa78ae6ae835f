-- name: enriched_market_data
-- returns: each trade with the signals of the last bar completed before it (as-of join)
-- A bar [bar_end_ns - bar_seconds, bar_end_ns) is complete at bar_end_ns, so a trade at ts_ns sees the
-- newest bar with bar_end_ns <= ts_ns. One row per trade per computed grid (bar_seconds); signal columns
-- are NULL for trades before the symbol's first completed bar (and bar_seconds too while no bar exists).
-- sets_price / counts_volume: whether Polygon's rules let the print set the last-sale price and count in volume
-- (eligible_trades); the signals only ever use prints that may.
CREATE OR REPLACE VIEW enriched_market_data AS
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
FROM eligible_trades AS m
CROSS JOIN (
    SELECT DISTINCT bar_seconds FROM trading_signals
    UNION ALL
    SELECT NULL WHERE NOT EXISTS (SELECT 1 FROM trading_signals)   -- trades still show before any bar
) AS g
ASOF LEFT JOIN trading_signals AS s
    ON s.symbol = m.symbol AND s.bar_seconds = g.bar_seconds AND m.ts_ns >= s.bar_end_ns;
