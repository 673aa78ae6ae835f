-- The landing (flex) table of Vertica-native Kafka loading: one row per Kafka message, the Polygon event JSON
-- in __raw__ (KafkaJSONParser). Created here only; kafka_landing.sql and vkconfig_setup.sh run this file.
--   vsql -f scripts/vertica/landing_table.sql
-- loaded_at is when a promotion (promote_trades.sql) first saw the row: that script stamps the rows whose
-- loaded_at is NULL, then reads a sliding window of them. The column has no NOT NULL and no DEFAULT: COPY
-- ignores column defaults (Vertica's flex table docs), and the vkconfig scheduler's COPY takes no column
-- expressions, so a NOT NULL column would reject every message.
CREATE FLEX TABLE IF NOT EXISTS polygon_trades_raw (
    loaded_at TIMESTAMP
);
