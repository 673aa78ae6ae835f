-- name: eligible_trades
-- returns: every trade of market_data with what Polygon's consolidated rules let it do; same columns and meaning
-- as sql/duckdb/views/005_eligible_trades.sql. A condition list "12,37" is matched as ",12,37," against the
-- pattern ",(c1|c2|...)," of the codes that may not do a thing (one pattern per rule, built once per query).
CREATE OR REPLACE VIEW eligible_trades AS
SELECT
    m.market,
    m.symbol,
    m.ts_ns,
    m.price,
    m.size,
    m.exchange,
    m.trade_id,
    m.conditions,
    m.tape,
    m.sequence,
    m.trf_id,
    m.trf_ts_ns,
    m.received_ns,
    m.source,
    m.correction,
    m.market <> 'stocks' OR (m.kept AND NOT REGEXP_LIKE(m.codes, r.no_last)) AS sets_price,
    m.market <> 'stocks' OR (m.kept AND NOT REGEXP_LIKE(m.codes, r.no_high_low)) AS sets_high_low,
    m.market <> 'stocks' OR (m.kept AND NOT REGEXP_LIKE(m.codes, r.no_volume)) AS counts_volume
FROM (
    SELECT
        t.*,
        (t.correction IS NULL OR t.correction IN (SELECT code FROM trade_corrections WHERE kept)) AS kept,
        ',' || COALESCE(t.conditions, '') || ',' AS codes
    FROM market_data AS t
) AS m
CROSS JOIN (
    SELECT
        (SELECT ',(' || LISTAGG(code::VARCHAR USING PARAMETERS separator = '|') || '),'
         FROM trade_conditions WHERE NOT updates_last) AS no_last,
        (SELECT ',(' || LISTAGG(code::VARCHAR USING PARAMETERS separator = '|') || '),'
         FROM trade_conditions WHERE NOT updates_high_low) AS no_high_low,
        (SELECT ',(' || LISTAGG(code::VARCHAR USING PARAMETERS separator = '|') || '),'
         FROM trade_conditions WHERE NOT updates_volume) AS no_volume
) AS r;
