-- name: liquidity_signals
-- returns: every bar with bar_liquidity measures, beside its trading_signals price, volume and return
-- One row per (symbol, bar_seconds, bar_end_ns) the transform wrote since quotes were wired in (bars written
-- before have no bar_liquidity row and are left out). horizon_seconds, realized_spread, price_impact: the bar's
-- bar_realized_spread row, NULL until the transform's watermark is LIQUIDITY_HORIZON_SECONDS past the bar's end.
CREATE OR REPLACE VIEW liquidity_signals AS
SELECT
    s.symbol,
    s.bar_end_ns,
    s.bar_seconds,
    s.n_trades,
    s.volume,
    s.vwap,
    s.close,
    s.log_return,
    l.n_quotes,
    l.quoted_spread,
    l.effective_spread,
    l.buy_volume,
    l.sell_volume,
    l.signed_volume,
    l.order_imbalance,
    l.depth_imbalance,
    l.amihud,
    l.roll_spread,
    l.kyle_lambda,
    r.horizon_seconds,
    r.realized_spread,
    r.price_impact,
    l.vpin_lee_ready,
    TIMESTAMPADD('microsecond', s.bar_end_ns // 1000, TIMESTAMP '1970-01-01 00:00:00') AS bar_end
FROM trading_signals AS s
JOIN bar_liquidity AS l
  ON l.symbol = s.symbol AND l.bar_seconds = s.bar_seconds AND l.bar_end_ns = s.bar_end_ns
LEFT JOIN bar_realized_spread AS r
  ON r.symbol = s.symbol AND r.bar_seconds = s.bar_seconds AND r.bar_end_ns = s.bar_end_ns;
