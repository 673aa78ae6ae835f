-- name: enriched_market_data
-- returns: each trade with its prevailing quote, its Lee-Ready side and the signals of the last bar completed
-- before it (as-of joins)
-- A bar [bar_end_ns - bar_seconds, bar_end_ns) is complete at bar_end_ns, so a trade at ts_ns sees the
-- newest bar with bar_end_ns <= ts_ns. One row per trade per computed grid (bar_seconds); signal columns
-- are NULL for trades before the symbol's first completed bar (and bar_seconds too while no bar exists).
-- sets_price / counts_volume: whether Polygon's rules let the print set the last-sale price and count in volume
-- (eligible_trades); the signals only ever use prints that may.
-- Quotes, as udx.nbbo and udx.trade_sign decide them (README "Trades and quotes"; the rules are the macros
-- nbbo_flags, trade_side, quote_flags and effective_spread, 006_... to 009_..., which the window macro shares):
-- * the prevailing quote is the newest quote of the symbol stamped STRICTLY BEFORE the trade (of quotes sharing
--   a stamp, the last in SIP order: the view quote_book);
--   bid_price / ask_price are its sides, NULL for a side that is missing, not finite or <= 0 (Polygon writes 0),
--   and both NULL when no quote is in force;
-- * quote_flags, OR-ed bits of udx.nbbo and udx.trade_sign: 1 no quote, 2 stale (older than the
--   quote_stale_ns of view_settings = QUOTE_STALE_SECONDS; a stale quote is not in force: no prices, and none
--   of the next three bits, where udx.nbbo keeps them), 4 one-sided, 8 locked, 16 crossed, 32 at the
--   midpoint (signed by the tick rule), 64 no usable quote (signed by the tick rule alone);
-- * trade_side +1 buy / -1 sell / 0 unknown: the quote rule against the midpoint m (|2p - b - a| <= 1e-9 p is
--   the midpoint), else the tick rule: the sign of the last non-zero change of the price-setting prints
--   (sets_price) in trade order (ts_ns, COALESCE(sequence, max), exchange, trade_id), this print included
--   when it sets the price; a print that may not set it is compared with the last one that did first;
-- * effective_spread = 2 |p - m| / m with a usable quote (quote_flags 0 or 32), NULL otherwise.
CREATE OR REPLACE VIEW enriched_market_data AS
WITH limits AS (
    SELECT max(value) AS stale_ns FROM view_settings WHERE name = 'quote_stale_ns'
),
quoted AS (   -- each trade with its prevailing quote; a missing side is NULL
    SELECT
        m.*,
        q.ts_ns AS quote_ts_ns,
        CASE WHEN q.bid_price > 0 AND q.bid_price < 'inf'::DOUBLE THEN q.bid_price END AS bid,
        CASE WHEN q.ask_price > 0 AND q.ask_price < 'inf'::DOUBLE THEN q.ask_price END AS ask,
        lag(CASE WHEN m.sets_price THEN m.price END IGNORE NULLS) OVER w AS last_price
    FROM eligible_trades AS m
    ASOF LEFT JOIN quote_book AS q ON q.symbol = m.symbol AND m.ts_ns > q.ts_ns
    WINDOW w AS (PARTITION BY m.symbol ORDER BY m.ts_ns, COALESCE(m.sequence, 9223372036854775807), m.exchange,
                 m.trade_id)
),
flagged AS (
    SELECT
        t.*,
        nbbo_flags(1, t.quote_ts_ns, t.ts_ns, (SELECT stale_ns FROM limits), t.bid, t.ask)
            AS nbbo_flags,
        CASE WHEN t.sets_price AND t.price <> t.last_price THEN sign(t.price - t.last_price) END AS change
    FROM quoted AS t
),
signed AS (
    SELECT
        f.*,
        CASE WHEN NOT f.sets_price AND f.price <> f.last_price THEN sign(f.price - f.last_price)
             ELSE coalesce(last_value(f.change IGNORE NULLS) OVER w, 0) END AS tick_side,
        2.0 * f.price - f.bid - f.ask AS mid_gap
    FROM flagged AS f
    WINDOW w AS (PARTITION BY f.symbol ORDER BY f.ts_ns, COALESCE(f.sequence, 9223372036854775807), f.exchange,
                 f.trade_id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
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
CROSS JOIN (
    SELECT DISTINCT bar_seconds FROM trading_signals
    UNION ALL
    SELECT NULL WHERE NOT EXISTS (SELECT 1 FROM trading_signals)   -- trades still show before any bar
) AS g
ASOF LEFT JOIN trading_signals AS s
    ON s.symbol = m.symbol AND s.bar_seconds = g.bar_seconds AND m.ts_ns >= s.bar_end_ns;
