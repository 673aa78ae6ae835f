-- name: enriched_market_data_between
-- returns: (table macro) the rows of enriched_market_data of one symbol with start_ns <= ts_ns < end_ns, in no
-- order, every grid as the view: enriched_market_data_between_grid (011_...) with grid NULL, where the window's
-- tick state, quotes and bars are read from just before it. Pass constants or bound values as the bounds, and
-- filter bar_seconds as on the view. tests/sql/test_enriched_between.py compares it with the view.
CREATE OR REPLACE MACRO enriched_market_data_between(ticker, start_ns, end_ns) AS TABLE
SELECT * FROM enriched_market_data_between_grid(ticker, start_ns, end_ns, NULL);
