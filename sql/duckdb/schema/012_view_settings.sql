-- name: view_settings
-- The settings a view needs (a view cannot take parameters), written by the file's writer from its Settings at
-- every open (set_view_setting): quote_stale_ns = QUOTE_STALE_SECONDS in ns, read by enriched_market_data and
-- enriched_data_page so the SQL flags a stale quote exactly where udx.nbbo does. A reader sees what the last
-- writer wrote; a view finding no row flags no quote stale.
CREATE TABLE IF NOT EXISTS view_settings (
    name  VARCHAR PRIMARY KEY,
    value BIGINT NOT NULL
);
