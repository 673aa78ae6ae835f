-- name: quote_flags
-- returns: (scalar macro) enriched_market_data's quote_flags: nbbo_flags (006_...) plus 64 when the quote is
-- not usable (signed by the tick rule alone) or 32 at the midpoint (mid_gap as trade_side's). Shared by
-- enriched_market_data (010_...) and enriched_market_data_between_grid (011_...).
CREATE OR REPLACE MACRO quote_flags(nbbo_flags, mid_gap, price) AS
    CAST(nbbo_flags + CASE WHEN nbbo_flags <> 0 THEN 64
                           WHEN abs(mid_gap) <= 1e-9 * price THEN 32 ELSE 0 END AS UTINYINT);
