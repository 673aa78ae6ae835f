-- name: view_settings
-- The settings a view needs (a view cannot take parameters), written by the writer from its Settings when it
-- applies the schema (set_view_setting); same rows and meaning as sql/duckdb/schema/012_view_settings.sql.
-- Small: one unsegmented projection.
CREATE TABLE IF NOT EXISTS view_settings (
    name  VARCHAR(64) NOT NULL PRIMARY KEY,
    value INTEGER     NOT NULL
)
ORDER BY name
UNSEGMENTED ALL NODES;
