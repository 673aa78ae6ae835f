-- name: market_data
-- One row per trade. Times are BIGINT nanoseconds since the Unix epoch, UTC.
-- Dedupe key (DESIGN §5): market, symbol, exchange, trade_id, ts_ns; loading the same event twice leaves one row.
-- Deviation from DESIGN §5 ("Key"): in DuckDB the key is NOT declared as a PRIMARY KEY. The loader is the only
-- writer of this table (one writing process per file, one write lock in it) and keeps the key by construction:
-- queries/insert_trades.sql adds only batch rows whose key is not stored yet (anti-join restricted to the batch's
-- ts_ns range, so zone maps skip the rest of the table) and the first of duplicates inside a batch. The ART index
-- of a declared 5-column key made appends 2-4x slower and grew the process by ~20 MiB per million rows outside
-- DuckDB's memory limit (bench/bench_ingest.py, "Where the time goes").
-- Files created before this change lose their PRIMARY KEY at their next open by a writer: migration
-- migrations/001_market_data_without_key.sql rebuilds the table once (sql/migrations.py).
CREATE TABLE IF NOT EXISTS market_data (
    market      VARCHAR NOT NULL,            -- stocks | crypto
    symbol      VARCHAR NOT NULL,
    ts_ns       BIGINT  NOT NULL,            -- SIP (stocks) or exchange (crypto) timestamp
    price       DOUBLE  NOT NULL,
    size        DOUBLE  NOT NULL,            -- crypto sizes are fractional
    exchange    INTEGER NOT NULL,
    trade_id    VARCHAR NOT NULL,
    conditions  VARCHAR,                     -- comma-separated condition codes, as in Polygon flat files
    tape        INTEGER,
    sequence    BIGINT,
    trf_id      INTEGER,
    trf_ts_ns   BIGINT,
    received_ns BIGINT  NOT NULL,            -- when this process received the event
    source      VARCHAR NOT NULL,            -- ws | replay | sim
    correction  INTEGER                      -- Polygon's correction indicator (0 = regular); NULL when the
                                             -- source has none, e.g. WebSocket trades. Added last: files
                                             -- created before it get it from 006_market_data_correction.sql
);
