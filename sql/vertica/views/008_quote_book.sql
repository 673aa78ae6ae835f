-- name: quote_book
-- returns: one quote per symbol and stamp (ts_ns): of the quotes sharing a stamp, the last in SIP order; same
-- columns and meaning as sql/duckdb/views/008_quote_book.sql
CREATE OR REPLACE VIEW quote_book AS
SELECT b.symbol, b.ts_ns, b.bid_price, b.ask_price
FROM (
    SELECT symbol, ts_ns, bid_price, ask_price,
           ROW_NUMBER() OVER (PARTITION BY symbol, ts_ns
                              ORDER BY COALESCE(sequence, 9223372036854775807) DESC, received_ns DESC,
                                       bid_price DESC, ask_price DESC) AS newest
    FROM quotes
) AS b
WHERE b.newest = 1;
