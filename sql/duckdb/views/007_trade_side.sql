-- name: trade_side
-- returns: (scalar macro) a trade's Lee-Ready side, +1 buy / -1 sell / 0 unknown, as udx.trade_sign decides it:
-- with a usable quote (nbbo_flags 0) the quote rule against the midpoint (mid_gap = 2p - bid - ask; within
-- 1e-9 p of it is the midpoint), else and at the midpoint tick_side (the tick rule). Shared by
-- enriched_market_data (010_...) and enriched_market_data_between_grid (011_...).
CREATE OR REPLACE MACRO trade_side(nbbo_flags, mid_gap, price, tick_side) AS
    CAST(CASE WHEN nbbo_flags <> 0 THEN tick_side
              WHEN mid_gap > 1e-9 * price THEN 1
              WHEN mid_gap < -1e-9 * price THEN -1
              ELSE tick_side END AS TINYINT);
