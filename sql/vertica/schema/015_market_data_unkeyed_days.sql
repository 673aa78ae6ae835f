-- name: market_data_unkeyed_days
-- The (market, symbol, day) of trades retention exported and dropped before their keys were kept (migration 004):
-- a trade of such a day cannot be told from a re-delivery, so insert_trades refuses it as before. Small; only
-- migration 004 writes it.
CREATE TABLE IF NOT EXISTS market_data_unkeyed_days (
    market  VARCHAR(8)   NOT NULL,
    symbol  VARCHAR(32)  NOT NULL,
    day     DATE         NOT NULL
)
UNSEGMENTED ALL NODES;
