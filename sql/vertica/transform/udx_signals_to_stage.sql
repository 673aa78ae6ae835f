-- name: udx_signals_to_stage
-- params: market, bar_seconds, watermark_ns, computed_at_ns, until_ns, stale_ns, symbols, settings
-- returns: rows staged: every newly final bar of every symbol of one market, computed inside Vertica, and after each
-- symbol's bars the bar_realized_spread rows of its bars the watermark passed by the horizon (until_ns)
-- Incremental by signal_state: each symbol's trades and quotes from the end of its last written bar (or all of
-- them) up to the watermark go to one batch_microstructure partition (a UDx cannot read tables: the quotes ride in
-- the partition, kind 1), trades ordered as trades_range orders them and quotes as quotes_range_symbols; the
-- stored state rides on the partition's first row only (it can be tens of kB: it is joined to that row alone, after
-- the rows are numbered, never carried through the sort). The realized plan rides along as
-- realized_spread_due and realized_spread_resume read it: each stored bar after the symbol's newest
-- bar_realized_spread row ending at or before until_ns (kind 2, ts_ns its bar_end_ns) and that newest row (kind 3,
-- ts_ns its bar_end_ns, price its tick_price, size its tick_sign), with the trades from that row's bar end and the
-- quotes from stale_ns (QUOTE_STALE_SECONDS) before; symbols: the market's symbols (trade_symbols), since
-- trading_signals and bar_realized_spread carry no market. A partition holding only its newest realized row has
-- nothing to compute and is left out. The UDx (udx/vertica_udx.py) runs udx.transform.run_transform on the
-- partition, so the rows, their bar liquidity and the realized rows equal those of the client-side transform.
INSERT INTO trading_signals_stage (
    symbol, bar_end_ns, bar_seconds, n_trades, volume, vwap, close, log_return, garch_sigma,
    standardized_return, lee_mykland_stat, jump_threshold, jump_detected, bns_stat, trade_intensity_zscore,
    conditional_duration, acd_surprise, vpin, vpin_cdf, trading_signal, signal_reason, computed_at_ns,
    n_quotes, quoted_spread, effective_spread, buy_volume, sell_volume, signed_volume, order_imbalance,
    depth_imbalance, amihud, roll_spread, kyle_lambda, vpin_lee_ready, state, model_params, intraday_profile,
    bar_realized_spread
)
SELECT batch_microstructure(p.ts_ns, p.price, p.size, p.conditions, p.correction, p.symbol, p.state,
                            p.bid_price, p.bid_size, p.ask_price, p.ask_size, p.kind
                            USING PARAMETERS settings = :settings, market = :market,
                                             watermark_ns = :watermark_ns, computed_at_ns = :computed_at_ns)
       OVER (PARTITION BY p.symbol
             ORDER BY p.ts_ns, p.kind, COALESCE(p.sequence, 9223372036854775807), p.exchange, p.trade_id,
                      p.received_ns)
FROM (
    SELECT
        r.symbol, r.ts_ns, r.price, r.size, r.conditions, r.correction, r.bid_price, r.bid_size, r.ask_price,
        r.ask_size, r.kind, r.sequence, r.exchange, r.trade_id, r.received_ns, st.state
    FROM (
        SELECT
            u.*,
            ROW_NUMBER() OVER (PARTITION BY u.symbol
                               ORDER BY u.ts_ns, u.kind, COALESCE(u.sequence, 9223372036854775807), u.exchange,
                                        u.trade_id, u.received_ns) AS first_row,
            MIN(u.kind) OVER (PARTITION BY u.symbol) AS first_kind
        FROM (
            SELECT m.symbol, m.ts_ns, m.price, m.size, m.conditions, m.correction,
                   NULL::FLOAT AS bid_price, NULL::FLOAT AS bid_size, NULL::FLOAT AS ask_price,
                   NULL::FLOAT AS ask_size, 0 AS kind, m.sequence, m.exchange, m.trade_id, 0 AS received_ns
            FROM market_data AS m
            LEFT OUTER JOIN signal_state AS st ON st.symbol = m.symbol AND st.bar_seconds = :bar_seconds
            LEFT OUTER JOIN (
                SELECT symbol, MAX(bar_end_ns) AS realized_ns FROM bar_realized_spread
                WHERE bar_seconds = :bar_seconds GROUP BY symbol
            ) AS rr ON rr.symbol = m.symbol
            WHERE m.market = :market
              AND m.ts_ns >= LEAST(COALESCE(st.last_bar_end_ns, 0), COALESCE(rr.realized_ns, 0))
              AND m.ts_ns < :watermark_ns
            UNION ALL
            SELECT q.symbol, q.ts_ns, NULL::FLOAT AS price, NULL::FLOAT AS size, NULL::VARCHAR AS conditions,
                   NULL::INTEGER AS correction, q.bid_price, q.bid_size, q.ask_price, q.ask_size, 1 AS kind,
                   q.sequence, 0 AS exchange, '' AS trade_id, q.received_ns
            FROM quotes AS q
            LEFT OUTER JOIN signal_state AS st ON st.symbol = q.symbol AND st.bar_seconds = :bar_seconds
            LEFT OUTER JOIN (
                SELECT symbol, MAX(bar_end_ns) AS realized_ns FROM bar_realized_spread
                WHERE bar_seconds = :bar_seconds GROUP BY symbol
            ) AS rr ON rr.symbol = q.symbol
            WHERE q.market = :market
              AND q.ts_ns >= LEAST(COALESCE(st.last_bar_end_ns, 0),
                                   GREATEST(COALESCE(rr.realized_ns, 0) - :stale_ns, 0))
              AND q.ts_ns < :watermark_ns
            UNION ALL
            SELECT s.symbol, s.bar_end_ns AS ts_ns, NULL::FLOAT AS price, NULL::FLOAT AS size,
                   NULL::VARCHAR AS conditions, NULL::INTEGER AS correction, NULL::FLOAT AS bid_price,
                   NULL::FLOAT AS bid_size, NULL::FLOAT AS ask_price, NULL::FLOAT AS ask_size, 2 AS kind,
                   NULL::INTEGER AS sequence, 0 AS exchange, '' AS trade_id, 0 AS received_ns
            FROM trading_signals AS s
            LEFT OUTER JOIN (
                SELECT symbol, MAX(bar_end_ns) AS realized_ns FROM bar_realized_spread
                WHERE bar_seconds = :bar_seconds GROUP BY symbol
            ) AS rr ON rr.symbol = s.symbol
            WHERE s.bar_seconds = :bar_seconds
              AND CONTAINS((:symbols)::ARRAY[VARCHAR(32)], s.symbol)
              AND s.bar_end_ns <= :until_ns
              AND s.bar_end_ns > COALESCE(rr.realized_ns, -1)
            UNION ALL
            SELECT b.symbol, b.bar_end_ns AS ts_ns, b.tick_price AS price, b.tick_sign::FLOAT AS size,
                   NULL::VARCHAR AS conditions, NULL::INTEGER AS correction, NULL::FLOAT AS bid_price,
                   NULL::FLOAT AS bid_size, NULL::FLOAT AS ask_price, NULL::FLOAT AS ask_size, 3 AS kind,
                   NULL::INTEGER AS sequence, 0 AS exchange, '' AS trade_id, 0 AS received_ns
            FROM bar_realized_spread AS b
            JOIN (
                SELECT symbol, MAX(bar_end_ns) AS realized_ns FROM bar_realized_spread
                WHERE bar_seconds = :bar_seconds GROUP BY symbol
            ) AS rr ON rr.symbol = b.symbol AND rr.realized_ns = b.bar_end_ns
            WHERE b.bar_seconds = :bar_seconds
              AND CONTAINS((:symbols)::ARRAY[VARCHAR(32)], b.symbol)
        ) AS u
    ) AS r
    LEFT OUTER JOIN signal_state AS st
        ON st.symbol = r.symbol AND st.bar_seconds = :bar_seconds AND r.first_row = 1
    WHERE r.first_kind < 3
) AS p;
