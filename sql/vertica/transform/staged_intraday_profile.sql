-- name: staged_intraday_profile
-- returns: symbol and the JSON list of intraday profile rows the UDx returned with each symbol's last new bar
SELECT symbol, intraday_profile FROM trading_signals_stage WHERE intraday_profile IS NOT NULL ORDER BY symbol;
