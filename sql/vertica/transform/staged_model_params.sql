-- name: staged_model_params
-- returns: symbol and the JSON list of fits the UDx returned with each symbol's last new bar
SELECT symbol, model_params FROM trading_signals_stage WHERE model_params IS NOT NULL ORDER BY symbol;
