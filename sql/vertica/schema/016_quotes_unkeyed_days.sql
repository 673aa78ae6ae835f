-- name: quotes_unkeyed_days
-- The (market, symbol, day) of quotes retention exported and dropped before their keys were kept (migration 005):
-- a quote of such a day cannot be told from a re-delivery, so insert_quotes refuses it, as insert_trades refuses
-- a trade of market_data_unkeyed_days. Small; only migration 005 writes it.
CREATE TABLE IF NOT EXISTS quotes_unkeyed_days (
    market  VARCHAR(8)   NOT NULL,
    symbol  VARCHAR(32)  NOT NULL,
    day     DATE         NOT NULL
)
UNSEGMENTED ALL NODES;
