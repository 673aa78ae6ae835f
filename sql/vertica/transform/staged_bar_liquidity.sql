-- name: staged_bar_liquidity
-- returns: nothing; copies the bar liquidity the UDx staged beside each new bar (trading_signals_stage) into
-- bar_liquidity_stage, for upsert_bar_liquidity (every new bar has its row, as after the client-side transform)
INSERT INTO bar_liquidity_stage (
    symbol, bar_end_ns, bar_seconds, n_quotes, quoted_spread, effective_spread, buy_volume, sell_volume,
    signed_volume, order_imbalance, depth_imbalance, amihud, roll_spread, kyle_lambda, computed_at_ns, vpin_lee_ready
)
SELECT symbol, bar_end_ns, bar_seconds, n_quotes, quoted_spread, effective_spread, buy_volume, sell_volume,
       signed_volume, order_imbalance, depth_imbalance, amihud, roll_spread, kyle_lambda, computed_at_ns, vpin_lee_ready
FROM trading_signals_stage
WHERE n_quotes IS NOT NULL;
