-- name: eligible_trades
-- returns: every trade of market_data with what Polygon's consolidated rules let it do (sql/conditions.py):
-- sets_price (may set the last-sale price: bar closes, returns, every statistic's price path), sets_high_low,
-- counts_volume. A print whose correction code is not kept does none of them; NULL or empty conditions are a
-- regular sale; an unknown condition id is neutral; crypto prints (c = aggressor side) do everything.
-- A string's rules come from the lookup trade_condition_sets (decided by sql/conditions.py, as the transform
-- decides them); a string the lookup lacks is decided here from trade_conditions, token by token (slow).
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
        coalesce(m.conditions, '') = '' AS regular,
        s.updates_last AS set_last,
        s.updates_high_low AS set_high_low,
        s.updates_volume AS set_volume
    FROM market_data AS m
    LEFT JOIN trade_condition_sets AS s ON s.conditions = m.conditions
)
SELECT
    f.* EXCLUDE (any_print, kept, regular, set_last, set_high_low, set_volume),
    f.any_print OR (f.kept AND CASE
        WHEN f.regular THEN true
        WHEN f.set_last IS NOT NULL THEN f.set_last
        ELSE NOT list_has_any(string_split(f.conditions, ','), coalesce(r.no_last, [])) END) AS sets_price,
    f.any_print OR (f.kept AND CASE
        WHEN f.regular THEN true
        WHEN f.set_high_low IS NOT NULL THEN f.set_high_low
        ELSE NOT list_has_any(string_split(f.conditions, ','), coalesce(r.no_high_low, [])) END) AS sets_high_low,
    f.any_print OR (f.kept AND CASE
        WHEN f.regular THEN true
        WHEN f.set_volume IS NOT NULL THEN f.set_volume
        ELSE NOT list_has_any(string_split(f.conditions, ','), coalesce(r.no_volume, [])) END) AS counts_volume
FROM flagged AS f
CROSS JOIN rules AS r;
