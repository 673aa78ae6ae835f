-- name: bar_liquidity_all
-- returns: every row of bar_liquidity, with its columns, as the DuckDB view of that name. Vertica's retention moves
-- day partitions of market_data, quotes and trading_signals (sql/vertica/retention/) and leaves bar_liquidity in
-- place, so every row is live here; the view exists so that analyst SQL reads the same names on both dialects.
CREATE OR REPLACE VIEW bar_liquidity_all AS
SELECT symbol, bar_end_ns, bar_seconds, n_quotes, quoted_spread, effective_spread, buy_volume, sell_volume, signed_volume, order_imbalance, depth_imbalance, amihud, roll_spread, kyle_lambda, computed_at_ns, vpin_lee_ready FROM bar_liquidity;
