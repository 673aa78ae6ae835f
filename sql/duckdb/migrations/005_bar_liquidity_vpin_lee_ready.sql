-- name: bar_liquidity_vpin_lee_ready
-- bar_liquidity keeps VPIN with Lee-Ready classification beside the BVC vpin of trading_signals (udx/vpin_lr.py).
-- Added last, as in schema/011_bar_liquidity.sql, so INSERT ... SELECT * of upsert_bar_liquidity fits a migrated
-- file and a new one alike; bars stored before keep it NULL. A file whose bar_liquidity the schema files just
-- created has it already: IF NOT EXISTS makes that a no-op.
ALTER TABLE bar_liquidity ADD COLUMN IF NOT EXISTS vpin_lee_ready DOUBLE;
