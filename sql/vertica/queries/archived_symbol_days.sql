-- name: archived_symbol_days
-- returns: symbol, newest_day: per symbol, the newest UTC day whose trades or signals retention moved out of the live
-- tables: moved to market_data_archive / trading_signals_archive (MOVE_PARTITIONS_TO_TABLE) or exported and recorded
-- in archive_manifest. A recompute starts after it (udx/recompute.py): those trades are no longer live, and moved
-- signals are not rewritten.
SELECT symbol, MAX(day) AS newest_day
FROM (
    SELECT symbol, day FROM archive_manifest WHERE table_name IN ('trades', 'signals')
    UNION ALL
    SELECT symbol, MAX(TIMESTAMPADD('microsecond', ts_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE) AS day
    FROM market_data_archive GROUP BY symbol
    UNION ALL
    SELECT symbol, MAX(TIMESTAMPADD('microsecond', bar_end_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE) AS day
    FROM trading_signals_archive GROUP BY symbol
) AS moved
GROUP BY symbol;
