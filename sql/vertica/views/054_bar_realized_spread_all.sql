-- name: bar_realized_spread_all
-- returns: every row of bar_realized_spread, with its columns, as the DuckDB view of that name. Vertica's retention
-- leaves bar_realized_spread in place (it moves market_data, quotes and trading_signals), so every row is live
-- here; the view exists so that analyst SQL reads the same names on both dialects.
CREATE OR REPLACE VIEW bar_realized_spread_all AS
SELECT symbol, bar_end_ns, bar_seconds, horizon_seconds, n_trades, matched_volume, realized_spread, price_impact, tick_price, tick_sign, computed_at_ns FROM bar_realized_spread;
