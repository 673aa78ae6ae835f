-- name: record_migration
-- params: version, name, applied_at_ns
-- returns: nothing; records that the database is at this version (sql/migrations.py)
INSERT INTO schema_version (version, name, applied_at_ns) VALUES (:version, :name, :applied_at_ns);
