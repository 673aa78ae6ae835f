-- name: keep_keys_quotes
-- params: start_ns, end_ns
-- returns: one row, the keys added; keeps in quotes_archive_keys the dedupe keys (symbol, time and key_hash: see
-- schema/016_quotes_archive_keys.sql) of the rows of quotes_archive in [start_ns, end_ns) (those export_quotes
-- wrote), before drop_quotes, so that insert_quotes still tells a re-delivery of a dropped day from a new quote.
-- key_hash hashes sequence, bid_price, bid_size, ask_price, ask_size, bid_exchange, ask_exchange, conditions, tape
-- in that order, as insert_quotes does (HASH is below 2^63 on Vertica, so the modulo changes nothing there; it keeps
-- the DuckDB stand-in's unsigned hash in range). EXCEPT keeps each key once, so a rerun adds no key twice.
INSERT INTO quotes_archive_keys (market, symbol, ts_ns, key_hash)
SELECT market, symbol, ts_ns,
       HASH(sequence, bid_price, bid_size, ask_price, ask_size, bid_exchange, ask_exchange, conditions, tape)
           % 9223372036854775807
FROM quotes_archive
WHERE ts_ns >= :start_ns AND ts_ns < :end_ns
EXCEPT
SELECT market, symbol, ts_ns, key_hash
FROM quotes_archive_keys;
