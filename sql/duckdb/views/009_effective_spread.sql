-- name: effective_spread
-- returns: (scalar macro) a trade's effective spread 2 |p - m| / m against the quote's midpoint m, with a usable
-- quote (nbbo_flags 0) only, else NULL. Shared by enriched_market_data (010_...) and
-- enriched_market_data_between_grid (011_...).
CREATE OR REPLACE MACRO effective_spread(nbbo_flags, price, bid, ask) AS
    CASE WHEN nbbo_flags = 0 THEN 2.0 * abs(price - 0.5 * (bid + ask)) / (0.5 * (bid + ask)) END;
