-- name: quote_book
-- returns: one quote per symbol and stamp (ts_ns): of the quotes sharing a stamp, the last in SIP order (the
-- largest sequence, a missing one last, then received_ns, bid, ask), as bid_price / ask_price as stored. The
-- as-of joins of enriched_market_data, enriched_data_page, symbol_daily_spreads and chart_series read it, so a
-- stamp is one row; filters on symbol and ts_ns reach the quotes table below the grouping.
CREATE OR REPLACE VIEW quote_book AS
SELECT
    symbol,
    ts_ns,
    arg_max(bid_price, (COALESCE(sequence, 9223372036854775807), received_ns, bid_price, ask_price)) AS bid_price,
    arg_max(ask_price, (COALESCE(sequence, 9223372036854775807), received_ns, bid_price, ask_price)) AS ask_price
FROM quotes
GROUP BY symbol, ts_ns;
