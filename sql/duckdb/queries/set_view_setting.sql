-- name: set_view_setting
-- params: name, value
-- returns: nothing; stores one setting the views read (view_settings)
INSERT OR REPLACE INTO view_settings (name, value) VALUES ($name, $value);
