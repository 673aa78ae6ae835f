-- name: bar_realized_spread_all
-- returns: every row of bar_realized_spread: those in the live file and those retention moved to the Parquet
-- archive with their bars (ARCHIVE_PATH/bar_realized_spread, sql/archive.py), with the columns of
-- bar_realized_spread; join it to signals_all on (symbol, bar_seconds, bar_end_ns). As written here the archive
-- branch is empty; once the archive holds a file of this table, DuckDBStorage.create_views replaces its
-- "(FROM bar_realized_spread LIMIT 0)" by read_parquet over the archive's files (sql/archive_paths.py)
CREATE OR REPLACE VIEW bar_realized_spread_all AS
SELECT symbol, bar_end_ns, bar_seconds, horizon_seconds, n_trades, matched_volume, realized_spread, price_impact, tick_price, tick_sign, computed_at_ns FROM bar_realized_spread
UNION ALL
SELECT symbol, bar_end_ns, bar_seconds, horizon_seconds, n_trades, matched_volume, realized_spread, price_impact, tick_price, tick_sign, computed_at_ns FROM (FROM bar_realized_spread LIMIT 0) AS archived;
