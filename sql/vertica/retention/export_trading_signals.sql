-- name: export_trading_signals
-- params: directory, start_ns, end_ns
-- returns: one row, the rows exported; writes the bars of trading_signals_archive ending in [start_ns, end_ns)
-- under directory (a new folder, ARCHIVE_PATH/signals/export-<first day>) hive-partitioned market=/date=/symbol=;
-- the market of a symbol comes from its trades, live or archived
EXPORT TO PARQUET (directory = :directory, compression = 'zstd')
OVER (PARTITION BY market, "date", symbol)
AS SELECT t.bar_end_ns, t.bar_seconds, t.n_trades, t.volume, t.vwap, t.close, t.log_return, t.garch_sigma,
          t.standardized_return, t.lee_mykland_stat, t.jump_threshold, t.jump_detected, t.bns_stat,
          t.trade_intensity_zscore, t.conditional_duration, t.acd_surprise, t.vpin, t.vpin_cdf, t.trading_signal,
          t.signal_reason, t.computed_at_ns, COALESCE(m.market, 'unknown') AS market,
          TIMESTAMPADD('microsecond', t.bar_end_ns // 1000, TIMESTAMP '1970-01-01 00:00:00')::DATE AS "date", t.symbol
FROM trading_signals_archive AS t
LEFT JOIN (SELECT symbol, MIN(market) AS market FROM trades_all GROUP BY symbol) AS m ON m.symbol = t.symbol
WHERE t.bar_end_ns >= :start_ns AND t.bar_end_ns < :end_ns;
