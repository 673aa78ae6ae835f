-- name: bar_liquidity_all
-- returns: every row of bar_liquidity: those in the live file and those retention moved to the Parquet archive with
-- their bars (ARCHIVE_PATH/bar_liquidity, sql/archive.py), with the columns of bar_liquidity; join it to
-- signals_all on (symbol, bar_seconds, bar_end_ns) for the liquidity of archived bars. As written here the archive
-- branch is empty; once the archive holds a file of this table, DuckDBStorage.create_views replaces its
-- "(FROM bar_liquidity LIMIT 0)" by read_parquet over the archive's files (hive partitioning, the path a quoted
-- literal; sql/archive_paths.py)
CREATE OR REPLACE VIEW bar_liquidity_all AS
SELECT symbol, bar_end_ns, bar_seconds, n_quotes, quoted_spread, effective_spread, buy_volume, sell_volume, signed_volume, order_imbalance, depth_imbalance, amihud, roll_spread, kyle_lambda, computed_at_ns, vpin_lee_ready FROM bar_liquidity
UNION ALL
SELECT symbol, bar_end_ns, bar_seconds, n_quotes, quoted_spread, effective_spread, buy_volume, sell_volume, signed_volume, order_imbalance, depth_imbalance, amihud, roll_spread, kyle_lambda, computed_at_ns, vpin_lee_ready FROM (FROM bar_liquidity LIMIT 0) AS archived;
