-- name: view_columns
-- returns: table_name, column_name, data_type of every table and view of the storage contract
SELECT table_name, column_name, data_type
FROM (
    SELECT table_name, column_name, data_type, ordinal_position
    FROM v_catalog.columns
    WHERE table_schema = 'public'
      AND table_name IN ('market_data', 'quotes', 'trading_signals', 'model_params', 'signal_state',
                         'intraday_profile', 'trade_conditions', 'trade_corrections', 'view_settings')
    UNION ALL
    SELECT table_name, column_name, data_type, ordinal_position
    FROM v_catalog.view_columns
    WHERE table_schema = 'public'
      AND table_name IN ('intraday_profile', 'trade_conditions', 'trade_corrections', 'eligible_trades',
                     'enriched_market_data', 'jump_events', 'symbol_metrics', 'latest_signals', 'trades_all',
                     'quotes_all', 'signals_all', 'quote_book')
) AS c
ORDER BY table_name, ordinal_position;
