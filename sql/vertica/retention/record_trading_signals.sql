-- name: record_trading_signals
-- params: directory, start_ns, end_ns, archived_at_ns
-- returns: nothing; records in archive_manifest the partitions export_trading_signals wrote, before
-- drop_trading_signals
INSERT INTO archive_manifest
SELECT 'signals', COALESCE(m.market, 'unknown'), TIMESTAMPADD('microsecond', t.bar_end_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE, t.symbol, :directory, :directory,
       COUNT(*), 0, '', MIN(t.bar_end_ns), MAX(t.bar_end_ns), :archived_at_ns, true
FROM trading_signals_archive AS t
LEFT JOIN (SELECT symbol, MIN(market) AS market FROM trades_all GROUP BY symbol) AS m ON m.symbol = t.symbol
WHERE t.bar_end_ns >= :start_ns AND t.bar_end_ns < :end_ns
GROUP BY 2, 3, 4;
