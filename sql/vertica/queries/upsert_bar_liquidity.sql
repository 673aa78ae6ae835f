-- name: upsert_bar_liquidity
-- returns: nothing; a recomputed bar replaces the stored one
-- Source: bar_liquidity_stage (COPY); keys are unique within a commit.
MERGE INTO bar_liquidity AS t
USING bar_liquidity_stage AS s
ON t.symbol = s.symbol AND t.bar_seconds = s.bar_seconds AND t.bar_end_ns = s.bar_end_ns
WHEN MATCHED THEN UPDATE SET
    n_quotes = s.n_quotes, quoted_spread = s.quoted_spread, effective_spread = s.effective_spread,
    buy_volume = s.buy_volume, sell_volume = s.sell_volume, signed_volume = s.signed_volume,
    order_imbalance = s.order_imbalance, depth_imbalance = s.depth_imbalance, amihud = s.amihud,
    roll_spread = s.roll_spread, kyle_lambda = s.kyle_lambda, computed_at_ns = s.computed_at_ns,
    vpin_lee_ready = s.vpin_lee_ready
WHEN NOT MATCHED THEN INSERT (
    symbol, bar_end_ns, bar_seconds, n_quotes, quoted_spread, effective_spread, buy_volume, sell_volume,
    signed_volume, order_imbalance, depth_imbalance, amihud, roll_spread, kyle_lambda, computed_at_ns,
    vpin_lee_ready
) VALUES (
    s.symbol, s.bar_end_ns, s.bar_seconds, s.n_quotes, s.quoted_spread, s.effective_spread, s.buy_volume,
    s.sell_volume, s.signed_volume, s.order_imbalance, s.depth_imbalance, s.amihud, s.roll_spread, s.kyle_lambda,
    s.computed_at_ns, s.vpin_lee_ready
);
