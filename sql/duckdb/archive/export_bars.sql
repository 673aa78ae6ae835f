-- name: export_bars
-- params: market, day_start_ns, day_end_ns, excluded
-- returns: nothing; writes the bars of the table __TABLE__ (trading_signals or a table keyed like it that moves
-- with it: sql/archive_paths.py ARCHIVED_TABLES puts its quoted name there) of one market's symbols ending in one
-- UTC day, but those of the excluded symbols, to the staging folder __ARCHIVE__ (sql/archive.py puts the quoted
-- path there), one file per symbol. A symbol's market comes from its trades, live or archived ('unknown' without)
COPY (
    WITH markets AS (
        SELECT symbol, min(market) AS market FROM (
            SELECT DISTINCT market, symbol FROM market_data
            UNION SELECT DISTINCT market, symbol FROM archive_manifest WHERE table_name = 'trades'
        ) GROUP BY symbol
    )
    SELECT t.* FROM __TABLE__ AS t
    WHERE t.bar_end_ns >= $day_start_ns AND t.bar_end_ns < $day_end_ns AND NOT list_contains($excluded, t.symbol)
      AND coalesce((SELECT m.market FROM markets AS m WHERE m.symbol = t.symbol), 'unknown') = $market
    ORDER BY t.symbol, t.bar_seconds, t.bar_end_ns
) TO __ARCHIVE__ (FORMAT parquet, PARTITION_BY (symbol), WRITE_PARTITION_COLUMNS true, COMPRESSION zstd);
