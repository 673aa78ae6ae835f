-- name: nbbo_flags
-- returns: (scalar macro) the quote-state bits of a trade, as udx.nbbo decides them: no_quote when no quote was
-- found (1; the window macro passes 2 when an older, stale quote exists), 2 stale (older than stale_ns), 4
-- one-sided (bid or ask NULL), 8 locked, 16 crossed, else 0. One statement of the rule for enriched_market_data
-- (010_...) and enriched_market_data_between_grid (011_...).
CREATE OR REPLACE MACRO nbbo_flags(no_quote, quote_ts_ns, ts_ns, stale_ns, bid, ask) AS
    CASE
        WHEN quote_ts_ns IS NULL THEN no_quote
        WHEN ts_ns - quote_ts_ns > stale_ns THEN 2
        WHEN bid IS NULL OR ask IS NULL THEN 4
        WHEN bid = ask THEN 8
        WHEN bid > ask THEN 16
        ELSE 0
    END;
