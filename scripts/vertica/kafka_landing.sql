-- Vertica-native Kafka loading, part 1: the landing (flex) table and a one-shot KafkaSource COPY.
-- The alternative to `microstructure load`: Vertica reads the topic itself. Run with vsql as the loading user:
--   vsql -v brokers="'kafka:9092'" \
--        -v stream="'polygon.trades|0|-2,polygon.trades|1|-2,polygon.trades|2|-2,polygon.trades|3|-2'" \
--        -f scripts/vertica/kafka_landing.sql                      (from the repository root: \i below)
-- Each Kafka message is one Polygon trade event as `microstructure stream` produces it (key = symbol,
-- value = the event JSON: T for stocks, XT for crypto). KafkaJSONParser maps JSON keys to flex keys; arrays
-- are flattened (flatten_arrays) so the conditions list arrives as keys c.0, c.1, ...
-- Rows land in polygon_trades_raw (scripts/vertica/landing_table.sql); scripts/vertica/promote_trades.sql
-- moves them into market_data with the dedupe rule, any number of times (it is idempotent). Landing rows are
-- kept for a few days (the DELETE at the end of promote_trades.sql).

\i scripts/vertica/landing_table.sql

-- A one-shot load of everything in the topic (stream = topic|partition|start offset per partition; -2 is
-- "earliest" in Vertica's examples).
-- For continuous loading use the vkconfig scheduler (scripts/vertica/vkconfig_setup.sh), which keeps the
-- offsets itself (exactly-once into the landing table).
COPY polygon_trades_raw
SOURCE KafkaSource(stream = :stream, brokers = :brokers, stop_on_eof = true, duration = INTERVAL '60 seconds')
PARSER KafkaJSONParser(flatten_arrays = true)
REJECTED DATA AS TABLE polygon_trades_rejected
DIRECT;

-- What was read, per partition (start and end offsets, messages, why it stopped):
SELECT KafkaOffsets() OVER () FROM polygon_trades_raw;
