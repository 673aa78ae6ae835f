-- name: view_columns
-- returns: table_name, column_name, data_type of every table and view of the storage contract
SELECT table_name, column_name, data_type
FROM information_schema.columns
WHERE table_schema = 'main'
  AND table_name IN ('market_data', 'quotes', 'trading_signals', 'model_params', 'signal_state',
                     'intraday_profile', 'trade_conditions', 'trade_corrections', 'eligible_trades',
                     'enriched_market_data', 'jump_events', 'symbol_metrics', 'latest_signals', 'trades_all',
                     'quotes_all', 'signals_all', 'bar_liquidity_all', 'bar_realized_spread_all', 'quote_book', 'view_settings')
ORDER BY table_name, ordinal_position;
