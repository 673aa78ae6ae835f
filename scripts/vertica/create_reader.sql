-- The server's SELECT-only user (DESIGN: the MCP server reads through a read-only user in a capped pool).
--   vsql -v reader=microstructure_reader -v password="'change-me'" -f scripts/vertica/create_reader.sql
-- then run `microstructure serve` with VERTICA_USER=microstructure_reader VERTICA_PASS=change-me.
-- The server's sessions are also READ ONLY and carry RUNTIMECAP = MCP_QUERY_TIMEOUT_MS
-- (sql/vertica/session/); the user's own caps below are a second barrier against runaway queries. Keep
-- MCP_QUERY_TIMEOUT_MS at or below the user's RUNTIMECAP: a user who is not a superuser may only lower a
-- session's cap below the user's.
CREATE USER :reader IDENTIFIED BY :password;
CREATE ROLE microstructure_read;
GRANT USAGE ON SCHEMA public TO microstructure_read;
-- Every relation the analyst SQL guard allows (server/sql_guard.py DOCUMENTED_RELATIONS), no more
GRANT SELECT ON TABLE public.market_data, public.quotes, public.trading_signals, public.model_params,
                      public.signal_state, public.intraday_profile, public.trade_conditions,
                      public.trade_corrections, public.bar_liquidity, public.view_settings,
                      public.bar_realized_spread TO microstructure_read;
GRANT SELECT ON public.eligible_trades, public.enriched_market_data, public.jump_events, public.symbol_metrics,
                public.latest_signals, public.trades_all, public.quotes_all, public.signals_all,
                public.liquidity_signals, public.quote_book, public.bar_liquidity_all,
                public.bar_realized_spread_all TO microstructure_read;
GRANT microstructure_read TO :reader;
-- DEFAULT ROLE stands alone in its ALTER USER; account parameters go in one comma-separated list
ALTER USER :reader DEFAULT ROLE microstructure_read;
-- at most 16 open sessions of this user in the database: a `serve` replica pools up to 4, so 4 replicas
ALTER USER :reader RUNTIMECAP '30 seconds', MAXCONNECTIONS 16 ON DATABASE;
-- Views run with their owner's rights on the base tables (Vertica), so SELECT on the views is enough for
-- them; SELECT on the tables serves the queries that read tables directly (trading_signals_page, ...).
