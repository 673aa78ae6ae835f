-- name: eligible_trades
-- returns: every trade of market_data with what Polygon's consolidated rules let it do (sql/conditions.py):
-- sets_price (may set the last-sale price: bar closes, returns, every statistic's price path), sets_high_low,
-- counts_volume. A print whose correction code is not kept does none of them; NULL or empty conditions are a
-- regular sale; an unknown condition id is neutral; crypto prints (c = aggressor side) do everything.
CREATE OR REPLACE VIEW eligible_trades AS
WITH rules AS (
    SELECT
        list(CAST(code AS VARCHAR)) FILTER (WHERE NOT updates_last) AS no_last,
        list(CAST(code AS VARCHAR)) FILTER (WHERE NOT updates_high_low) AS no_high_low,
        list(CAST(code AS VARCHAR)) FILTER (WHERE NOT updates_volume) AS no_volume
    FROM trade_conditions
),
flagged AS (
    SELECT
        m.*,
        m.market <> 'stocks' AS any_print,
        m.market = 'stocks'
            AND (m.correction IS NULL OR m.correction IN (SELECT code FROM trade_corrections WHERE kept)) AS kept,
        string_split(coalesce(m.conditions, ''), ',') AS codes
    FROM market_data AS m
)
SELECT
    f.* EXCLUDE (any_print, kept, codes),
    f.any_print OR (f.kept AND NOT list_has_any(f.codes, coalesce(r.no_last, []))) AS sets_price,
    f.any_print OR (f.kept AND NOT list_has_any(f.codes, coalesce(r.no_high_low, []))) AS sets_high_low,
    f.any_print OR (f.kept AND NOT list_has_any(f.codes, coalesce(r.no_volume, []))) AS counts_volume
FROM flagged AS f
CROSS JOIN rules AS r;
