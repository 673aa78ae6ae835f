-- Vertica-native Kafka loading, part 2: landing rows -> market_data, with the dedupe rule of DESIGN §5.
--   vsql -f scripts/vertica/promote_trades.sql          (every few seconds: cron, a loop, or a scheduler job)
-- Idempotent: it stamps the rows landed since the last run with this run's time (loaded_at, NULL until then:
-- COPY fills no default), re-reads the rows stamped in the last 15 minutes and inserts only keys not in
-- market_data (market, symbol, exchange, trade_id, ts_ns), so overlapping runs, retries and Kafka redeliveries
-- leave one row per trade. Field mapping is the one of ingest/normalize.py:
--   T  (stocks): sym x i z p s c t q trfi trft, plus t_ns/trft_ns when present (flat-file replays) and
--                our correction key _corr (ingest/replay_json.py): its value when the key is there (null ->
--                NULL), else 0 for an event made from a flat file (it carries t_ns), else NULL (WebSocket)
--   XT (crypto): pair p t s c i x (correction NULL)
-- t/trft are Unix milliseconds (x 1e6 -> ns). received_ns is the promotion time (the Python loader stores
-- the socket receive time). Limitation: a crypto trade without `i` gets the id '~' || price || 'x' || size,
-- formatted by Vertica, which can differ from the Python normalizer's formatting: do not feed the same crypto
-- topic through both loaders.
UPDATE polygon_trades_raw SET loaded_at = NOW() WHERE loaded_at IS NULL;
INSERT INTO market_data (market, symbol, ts_ns, price, size, exchange, trade_id, conditions, tape, sequence,
                         trf_id, trf_ts_ns, received_ns, source, correction)
SELECT market, symbol, ts_ns, price, size, exchange, trade_id, conditions, tape, sequence, trf_id, trf_ts_ns,
       received_ns, source, correction
FROM (
    SELECT
        CASE WHEN MAPLOOKUP(__raw__, 'ev') = 'XT' THEN 'crypto' ELSE 'stocks' END AS market,
        COALESCE(MAPLOOKUP(__raw__, 'sym'), MAPLOOKUP(__raw__, 'pair'))::VARCHAR(32) AS symbol,
        COALESCE(MAPLOOKUP(__raw__, 't_ns')::INTEGER, MAPLOOKUP(__raw__, 't')::INTEGER * 1000000) AS ts_ns,
        MAPLOOKUP(__raw__, 'p')::FLOAT AS price,
        MAPLOOKUP(__raw__, 's')::FLOAT AS size,
        MAPLOOKUP(__raw__, 'x')::INTEGER AS exchange,
        COALESCE(MAPLOOKUP(__raw__, 'i'),
                 '~' || MAPLOOKUP(__raw__, 'p') || 'x' || MAPLOOKUP(__raw__, 's'))::VARCHAR(64) AS trade_id,
        NULLIF(TRIM(BOTH ',' FROM COALESCE(MAPLOOKUP(__raw__, 'c.0'), '') || ',' ||
                                  COALESCE(MAPLOOKUP(__raw__, 'c.1'), '') || ',' ||
                                  COALESCE(MAPLOOKUP(__raw__, 'c.2'), '') || ',' ||
                                  COALESCE(MAPLOOKUP(__raw__, 'c.3'), '')), '')::VARCHAR(256) AS conditions,
        MAPLOOKUP(__raw__, 'z')::INTEGER AS tape,
        MAPLOOKUP(__raw__, 'q')::INTEGER AS sequence,
        MAPLOOKUP(__raw__, 'trfi')::INTEGER AS trf_id,
        COALESCE(MAPLOOKUP(__raw__, 'trft_ns')::INTEGER, MAPLOOKUP(__raw__, 'trft')::INTEGER * 1000000) AS trf_ts_ns,
        (EXTRACT(EPOCH FROM STATEMENT_TIMESTAMP()) * 1000000000)::INTEGER AS received_ns,
        'ws' AS source,
        CASE WHEN MAPLOOKUP(__raw__, 'ev') = 'XT' THEN NULL
             WHEN MAPCONTAINSKEY(__raw__, '_corr') THEN MAPLOOKUP(__raw__, '_corr')::INTEGER
             WHEN MAPLOOKUP(__raw__, 't_ns') IS NOT NULL THEN 0
        END AS correction
    FROM polygon_trades_raw
    WHERE loaded_at >= NOW() - INTERVAL '15 minutes'
      AND MAPLOOKUP(__raw__, 'ev') IN ('T', 'XT')
      AND MAPLOOKUP(__raw__, 'p')::FLOAT > 0
    LIMIT 1 OVER (PARTITION BY COALESCE(MAPLOOKUP(__raw__, 'sym'), MAPLOOKUP(__raw__, 'pair')),
                               MAPLOOKUP(__raw__, 'x'), MAPLOOKUP(__raw__, 'i'), MAPLOOKUP(__raw__, 't'),
                               MAPLOOKUP(__raw__, 't_ns'), MAPLOOKUP(__raw__, 'p'), MAPLOOKUP(__raw__, 's')
                  ORDER BY loaded_at)
) AS b
WHERE NOT EXISTS (
    SELECT 1 FROM market_data AS m
    WHERE m.market = b.market AND m.symbol = b.symbol AND m.exchange = b.exchange
      AND m.trade_id = b.trade_id AND m.ts_ns = b.ts_ns
);
COMMIT;
-- Retention of the landing zone (keep 3 days; now and then SELECT PURGE_TABLE('polygon_trades_raw')):
DELETE FROM polygon_trades_raw WHERE loaded_at < NOW() - INTERVAL '3 days';
COMMIT;
