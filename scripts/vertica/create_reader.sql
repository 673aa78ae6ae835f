-- The server's SELECT-only user (DESIGN: the MCP server reads through a read-only user in a capped pool).
--   vsql -v reader=microstructure_reader -v password="'change-me'" -f scripts/vertica/create_reader.sql
-- then run `microstructure serve` with VERTICA_USER=microstructure_reader VERTICA_PASS=change-me.
-- The server's sessions are also READ ONLY and carry RUNTIMECAP = MCP_QUERY_TIMEOUT_MS
-- (sql/vertica/session/); the user's own caps below are a second barrier against runaway queries.
CREATE USER :reader IDENTIFIED BY :password;
CREATE ROLE microstructure_read;
GRANT USAGE ON SCHEMA public TO microstructure_read;
GRANT SELECT ON TABLE public.market_data, public.quotes, public.trading_signals, public.model_params,
                      public.signal_state TO microstructure_read;
GRANT SELECT ON public.enriched_market_data, public.jump_events, public.symbol_metrics, public.latest_signals
      TO microstructure_read;
GRANT microstructure_read TO :reader;
ALTER USER :reader DEFAULT ROLE microstructure_read;
ALTER USER :reader RUNTIMECAP '30 seconds' MAXCONCURRENCY 16;
-- Views run with their owner's rights on the base tables (Vertica), so SELECT on the views is enough for
-- them; SELECT on the tables serves the queries that read tables directly (trading_signals_page, ...).
