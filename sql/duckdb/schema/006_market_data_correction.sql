-- name: market_data_correction
-- Gives a market_data table created before the correction column existed (schema/001_market_data.sql) that
-- column, in place and last, so its column order is the contract's again (sql/contract.py). Rows stored before
-- keep correction NULL. A no-op on a table that has the column (IF NOT EXISTS); runs after 001 on every
-- apply_schema.
ALTER TABLE market_data ADD COLUMN IF NOT EXISTS correction INTEGER;
