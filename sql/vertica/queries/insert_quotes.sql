-- name: insert_quotes
-- returns: the number of rows added (the batch was COPYed into quotes_stage first)
INSERT INTO quotes (market, symbol, ts_ns, bid_price, bid_size, ask_price, ask_size, bid_exchange,
                    ask_exchange, conditions, sequence, tape, received_ns, source)
SELECT market, symbol, ts_ns, bid_price, bid_size, ask_price, ask_size, bid_exchange, ask_exchange,
       conditions, sequence, tape, received_ns, source
FROM quotes_stage;
