-- name: set_view_setting
-- params: name, value
-- returns: nothing; stores one setting the views read (view_settings)
MERGE INTO view_settings AS t
USING (SELECT :name AS name, :value AS value) AS s
ON t.name = s.name
WHEN MATCHED THEN UPDATE SET value = s.value
WHEN NOT MATCHED THEN INSERT (name, value) VALUES (s.name, s.value);
