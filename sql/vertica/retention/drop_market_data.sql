-- name: drop_market_data
-- params: first_day, last_day
-- returns: one row, Vertica's message; drops the day partitions [first_day, last_day] of market_data_archive, once
-- export_market_data wrote them to Parquet and record_market_data counted them
SELECT DROP_PARTITIONS('market_data_archive', :first_day, :last_day);
