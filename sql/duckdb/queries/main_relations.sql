-- name: main_relations
-- returns: (name, kind) of every table ('BASE TABLE') and view ('VIEW') of the file's main schema, and of every
-- table or scalar macro there as a view (the views folder holds day_metrics, nbbo_flags ...); a reader compares
-- them with the schema and view files to find what older code did not create (_reader_stand_ins)
SELECT table_name AS name, table_type AS kind FROM information_schema.tables WHERE table_schema = 'main'
  AND table_catalog = current_database()  -- not the temporary objects (catalog temp)
UNION ALL
SELECT DISTINCT function_name, 'VIEW' FROM duckdb_functions()
WHERE function_type IN ('table_macro', 'macro') AND schema_name = 'main' AND database_name = current_database();
