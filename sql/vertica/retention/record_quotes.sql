-- name: record_quotes
-- params: directory, start_ns, end_ns, archived_at_ns
-- returns: nothing; records in archive_manifest the partitions export_quotes wrote (rows and time range per market,
-- day and symbol), in the transaction before drop_quotes
INSERT INTO archive_manifest
SELECT 'quotes', market, TIMESTAMPADD('microsecond', ts_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE, symbol, :directory, :directory, COUNT(*), 0, '', MIN(ts_ns),
       MAX(ts_ns), :archived_at_ns, true
FROM quotes_archive
WHERE ts_ns >= :start_ns AND ts_ns < :end_ns
GROUP BY 2, 3, 4;
