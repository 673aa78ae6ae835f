-- name: bar_liquidity_vpin_lee_ready
-- bar_liquidity keeps VPIN with Lee-Ready classification beside the BVC vpin (udx/vpin_lr.py). Added last (to the
-- superprojection), as in schema/012_bar_liquidity.sql; bars stored before keep it NULL. DDL commits by itself in
-- Vertica; IF NOT EXISTS makes a rerun after a crash, or a table the schema files just created, a notice.
ALTER TABLE bar_liquidity ADD COLUMN IF NOT EXISTS vpin_lee_ready FLOAT;
