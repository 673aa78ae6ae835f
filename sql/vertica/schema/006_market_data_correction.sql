-- name: market_data_correction
-- Gives a market_data table created before the correction column existed (schema/001_market_data.sql) that
-- column, in place and last (ALTER TABLE adds it to the table's superprojections), so its column order is the
-- contract's again (sql/contract.py). Rows stored before keep correction NULL. Vertica's ADD COLUMN accepts
-- IF NOT EXISTS (only a notice when the column is there), so this runs on every apply_schema; like all DDL it
-- commits by itself.
ALTER TABLE market_data ADD COLUMN IF NOT EXISTS correction INTEGER;
