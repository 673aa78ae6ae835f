-- name: enriched_data_page
-- params: symbol, start_ns, end_ns, bar_seconds, after_ts_ns, after_exchange, after_trade_id, row_limit
-- returns: trades of one symbol with their signals, newest first; keyset cursor (ts_ns, exchange, trade_id)
-- The rows of the view enriched_market_data, computed for the page only: first the keys of the newest
-- row_limit trades (market_data is stored in time order, so a top-N on ts_ns reads the newest row groups
-- only, and only the key columns), then those trades whole, as-of joined with the few bars they need.
WITH grid AS (   -- as in the view: the grid's rows when it has bars; NULL signals before any bar exists
    SELECT CAST($bar_seconds AS INTEGER) AS bar_seconds
    WHERE EXISTS (SELECT 1 FROM trading_signals WHERE bar_seconds = $bar_seconds)
    UNION ALL
    SELECT NULL WHERE NOT EXISTS (SELECT 1 FROM trading_signals)
),
page AS (   -- the page's keys, reading only the key columns
    SELECT ts_ns, exchange, trade_id
    FROM market_data
    WHERE symbol = $symbol
      AND ts_ns >= $start_ns AND ts_ns < $end_ns
      AND ($after_ts_ns IS NULL OR (ts_ns, exchange, trade_id) < ($after_ts_ns, $after_exchange, $after_trade_id))
    ORDER BY ts_ns DESC, exchange DESC, trade_id DESC
    LIMIT $row_limit
),
trades AS (   -- with the eligibility flags of the view eligible_trades
    SELECT m.*
    FROM eligible_trades AS m
    SEMI JOIN page ON m.ts_ns = page.ts_ns AND m.exchange = page.exchange AND m.trade_id = page.trade_id
    WHERE m.symbol = $symbol
      AND m.ts_ns >= (SELECT min(ts_ns) FROM page) AND m.ts_ns <= (SELECT max(ts_ns) FROM page)
),
bars AS (   -- from the last bar before the page's oldest trade to its newest trade
    SELECT *
    FROM trading_signals
    WHERE symbol = $symbol AND bar_seconds = $bar_seconds
      AND bar_end_ns <= (SELECT max(ts_ns) FROM page)
      AND bar_end_ns >= coalesce((SELECT max(bar_end_ns) FROM trading_signals
                                  WHERE symbol = $symbol AND bar_seconds = $bar_seconds
                                    AND bar_end_ns <= (SELECT min(ts_ns) FROM page)), 0)
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
