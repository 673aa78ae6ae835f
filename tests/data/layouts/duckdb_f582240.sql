-- The DuckDB layout of commit f582240 (before quotes joined the views: no bar_liquidity, view_settings, daily_metrics,
-- quote_book or liquidity_signals; schema version 3). A reader of such a file must answer every tool; generated with git show, never edited.
-- name: schema_version
-- The layout of this database: one row per migration of sql/duckdb/migrations/ applied, or one row named
-- 'created' stamping a file the schema files created at the newest layout (sql/migrations.py). The version is
-- the largest one; a file without rows but with market_data predates versioning (version 0).
CREATE TABLE IF NOT EXISTS schema_version (
    version       INTEGER NOT NULL,
    name          VARCHAR NOT NULL,
    applied_at_ns BIGINT  NOT NULL
);
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
-- name: quotes
-- One row per top-of-book quote (stocks Q, crypto XQ).
CREATE TABLE IF NOT EXISTS quotes (
    market       VARCHAR NOT NULL,
    symbol       VARCHAR NOT NULL,
    ts_ns        BIGINT  NOT NULL,
    bid_price    DOUBLE,
    bid_size     DOUBLE,
    ask_price    DOUBLE,
    ask_size     DOUBLE,
    bid_exchange INTEGER,
    ask_exchange INTEGER,
    conditions   VARCHAR,
    sequence     BIGINT,
    tape         INTEGER,
    received_ns  BIGINT  NOT NULL,
    source       VARCHAR NOT NULL
);
-- name: trading_signals
-- One row per symbol per completed bar of bar_seconds on the session's calendar grid (spec/signals.md).
-- Key (symbol, bar_seconds, bar_end_ns), kept by its only writer: the transform commits a symbol's new bars
-- with its signal_state in one transaction, and upsert_signals deletes a recomputed bar before inserting it.
-- No PRIMARY KEY index: DuckDB appends to this table 4x faster without one (bench in BENCHMARKS.md, issue 3),
-- and no reader looks a bar up by its exact key. Files created with the former key lose it at their next open
-- by a writer (migrations/002_trading_signals_without_key.sql).
CREATE TABLE IF NOT EXISTS trading_signals (
    symbol                 VARCHAR NOT NULL,
    bar_end_ns             BIGINT  NOT NULL,   -- exclusive end of the bar [bar_end_ns - bar_seconds, bar_end_ns)
    bar_seconds            INTEGER NOT NULL,
    n_trades               BIGINT  NOT NULL,
    volume                 DOUBLE  NOT NULL,
    vwap                   DOUBLE,             -- NULL for a bar without trades
    close                  DOUBLE  NOT NULL,   -- previous-tick price at bar end
    log_return             DOUBLE,             -- first bar of a session: against the session's first trade
    garch_sigma            DOUBLE,
    standardized_return    DOUBLE,
    lee_mykland_stat       DOUBLE,
    jump_threshold         DOUBLE,
    jump_detected          BOOLEAN NOT NULL,
    bns_stat               DOUBLE,
    trade_intensity_zscore DOUBLE,
    conditional_duration   DOUBLE,             -- ACD expected duration, seconds
    acd_surprise           DOUBLE,
    vpin                   DOUBLE,
    vpin_cdf               DOUBLE,
    trading_signal         VARCHAR NOT NULL,   -- BUY | SELL | HOLD
    signal_reason          VARCHAR NOT NULL,
    computed_at_ns         BIGINT  NOT NULL
);
-- name: model_params
-- Fitted GARCH(1,1) and ACD(1,1) per symbol; one row per fit.
CREATE TABLE IF NOT EXISTS model_params (
    symbol         VARCHAR NOT NULL,
    model          VARCHAR NOT NULL,   -- garch11 | acd11
    bar_seconds    INTEGER NOT NULL,
    fit_start_ns   BIGINT  NOT NULL,
    fit_end_ns     BIGINT  NOT NULL,
    n_obs          BIGINT  NOT NULL,
    omega          DOUBLE,
    alpha          DOUBLE,
    beta           DOUBLE,
    loglik         DOUBLE,
    converged      BOOLEAN NOT NULL,
    scale          DOUBLE,
    fitted_at_ns   BIGINT  NOT NULL,
    fingerprint    VARCHAR,            -- JSON fingerprint of the definitions and settings (udx.pipeline);
                                       -- files made before it get it from migrations/003
    PRIMARY KEY (symbol, model, bar_seconds, fit_end_ns)
);
-- name: signal_state
-- Per symbol and grid, what the incremental transform needs to resume exactly where it stopped.
CREATE TABLE IF NOT EXISTS signal_state (
    symbol          VARCHAR NOT NULL,
    bar_seconds     INTEGER NOT NULL,
    last_bar_end_ns BIGINT  NOT NULL,   -- every bar ending at or before this is in trading_signals
    state           VARCHAR NOT NULL,   -- versioned JSON of the carried statistics (udx/state.py)
    updated_ns      BIGINT  NOT NULL,
    PRIMARY KEY (symbol, bar_seconds)
);
-- name: market_data_correction
-- Gives a market_data table created before the correction column existed (schema/001_market_data.sql) that
-- column, in place and last, so its column order is the contract's again (sql/contract.py). Rows stored before
-- keep correction NULL. A no-op on a table that has the column (IF NOT EXISTS); runs after 001 on every
-- apply_schema.
ALTER TABLE market_data ADD COLUMN IF NOT EXISTS correction INTEGER;
-- name: intraday_profile
-- The time-of-day volatility profile the transform estimated at the start of each session, from earlier sessions
-- only (udx/seasonality.py: Boudt-Croux-Laurent weighted standard deviation per bucket, mean square one over the
-- session). Returns are divided by sqrt(factor^2 integrated over their elapsed time) before Lee-Mykland, BNS,
-- GARCH and the momentum rule. One row per symbol, grid, session and bucket.
CREATE TABLE IF NOT EXISTS intraday_profile (
    symbol             VARCHAR NOT NULL,
    bar_seconds        INTEGER NOT NULL,
    session_open_ns    BIGINT  NOT NULL,   -- the session the profile applies to
    bucket             INTEGER NOT NULL,   -- time-of-day bucket, 0 = the one starting at the open
    minutes_after_open DOUBLE  NOT NULL,   -- where the bucket starts
    factor             DOUBLE  NOT NULL,   -- volatility relative to the session's root mean square
    n_obs              DOUBLE  NOT NULL,   -- returns behind the bucket's own value (after jump truncation)
    sessions           INTEGER NOT NULL,   -- earlier sessions the symbol had finished
    fallback           BOOLEAN NOT NULL,   -- true: too little history, the profile is flat
    computed_at_ns     BIGINT  NOT NULL,
    PRIMARY KEY (symbol, bar_seconds, session_open_ns, bucket)
);
-- name: trade_conditions
-- Polygon's stock trade conditions and their consolidated processing rules, shipped with the code
-- (sql/reference/polygon_stock_trade_conditions.csv, sql/conditions.py) and reloaded at every start of a writer.
CREATE TABLE IF NOT EXISTS trade_conditions (
    code             INTEGER NOT NULL,   -- Polygon's numeric condition id (market_data.conditions lists them)
    name             VARCHAR NOT NULL,
    updates_last     BOOLEAN NOT NULL,   -- may set the last-sale price (open, close, returns)
    updates_high_low BOOLEAN NOT NULL,
    updates_volume   BOOLEAN NOT NULL
);
-- name: trade_corrections
-- Flat-file correction codes (sql/reference/polygon_trade_corrections.csv); a print whose code is not kept
-- (corrected, cancelled, erroneous, undocumented) is left out of every statistic. NULL (WebSocket) = regular.
CREATE TABLE IF NOT EXISTS trade_corrections (
    code INTEGER NOT NULL,
    kept BOOLEAN NOT NULL
);
-- name: archive_manifest
-- What the Parquet archive holds (sql/archive.py): one row per file written for one (table, market, date, symbol)
-- partition. The row is inserted in the transaction that deletes the same rows from the live table, so a row
-- here means "these rows left the live file and are in this file". The file is moved from the staging folder to
-- its place under ARCHIVE_PATH after that commit; placed turns true once it is there (a run killed in between
-- finishes the move at the next run, checking the checksum).
CREATE TABLE IF NOT EXISTS archive_manifest (
    table_name     VARCHAR NOT NULL,   -- trades | quotes | signals (the folder under ARCHIVE_PATH)
    market         VARCHAR NOT NULL,
    day            DATE    NOT NULL,   -- UTC date of the rows' times
    symbol         VARCHAR NOT NULL,
    path           VARCHAR NOT NULL,   -- relative to ARCHIVE_PATH
    staged_path    VARCHAR NOT NULL,   -- relative to ARCHIVE_PATH, where the file waited before the commit
    n_rows         BIGINT  NOT NULL,   -- rows deleted from the live table = rows read back from the file
    n_bytes        BIGINT  NOT NULL,
    sha256         VARCHAR NOT NULL,   -- of the file's bytes
    first_ns       BIGINT  NOT NULL,
    last_ns        BIGINT  NOT NULL,
    archived_at_ns BIGINT  NOT NULL,
    placed         BOOLEAN NOT NULL
);
-- name: trade_condition_sets
-- The rules of every distinct non-empty conditions string stored in market_data, as sql/conditions.py decides
-- them (condition_sets_table): the view eligible_trades joins this small table instead of splitting each
-- print's string and searching the rule lists per row, which cost ~5 us a print (a day of one busy symbol took
-- seconds). The writer adds a batch's new strings in the transaction that stores the batch
-- (add_trade_condition_sets) and decides every row again at its open, after reloading trade_conditions; an
-- open that finds the lookup empty lists the strings market_data holds first (list_stored_condition_sets: files
-- made before this table, bulk loads around the storage API). A string missing here is still answered by the
-- view, the slow way.
CREATE TABLE IF NOT EXISTS trade_condition_sets (
    conditions       VARCHAR PRIMARY KEY,   -- as in market_data.conditions, e.g. '12,37'; once each: the view joins on it
    updates_last     BOOLEAN,               -- every listed id may set the last sale; NULL until decided
    updates_high_low BOOLEAN,
    updates_volume   BOOLEAN
);
-- name: eligible_trades
-- returns: every trade of market_data with what Polygon's consolidated rules let it do (sql/conditions.py):
-- sets_price (may set the last-sale price: bar closes, returns, every statistic's price path), sets_high_low,
-- counts_volume. A print whose correction code is not kept does none of them; NULL or empty conditions are a
-- regular sale; an unknown condition id is neutral; crypto prints (c = aggressor side) do everything.
-- A string's rules come from the lookup trade_condition_sets (decided by sql/conditions.py, as the transform
-- decides them); a string the lookup lacks is decided here from trade_conditions, token by token (slow).
CREATE OR REPLACE VIEW eligible_trades AS
WITH rules AS (
    SELECT
        list(CAST(code AS VARCHAR)) FILTER (WHERE NOT updates_last) AS no_last,
        list(CAST(code AS VARCHAR)) FILTER (WHERE NOT updates_high_low) AS no_high_low,
        list(CAST(code AS VARCHAR)) FILTER (WHERE NOT updates_volume) AS no_volume
    FROM trade_conditions
),
flagged AS (
    SELECT
        m.*,
        m.market <> 'stocks' AS any_print,
        m.market = 'stocks'
            AND (m.correction IS NULL OR m.correction IN (SELECT code FROM trade_corrections WHERE kept)) AS kept,
        coalesce(m.conditions, '') = '' AS regular,
        s.updates_last AS set_last,
        s.updates_high_low AS set_high_low,
        s.updates_volume AS set_volume
    FROM market_data AS m
    LEFT JOIN trade_condition_sets AS s ON s.conditions = m.conditions
)
SELECT
    f.* EXCLUDE (any_print, kept, regular, set_last, set_high_low, set_volume),
    f.any_print OR (f.kept AND CASE
        WHEN f.regular THEN true
        WHEN f.set_last IS NOT NULL THEN f.set_last
        ELSE NOT list_has_any(string_split(f.conditions, ','), coalesce(r.no_last, [])) END) AS sets_price,
    f.any_print OR (f.kept AND CASE
        WHEN f.regular THEN true
        WHEN f.set_high_low IS NOT NULL THEN f.set_high_low
        ELSE NOT list_has_any(string_split(f.conditions, ','), coalesce(r.no_high_low, [])) END) AS sets_high_low,
    f.any_print OR (f.kept AND CASE
        WHEN f.regular THEN true
        WHEN f.set_volume IS NOT NULL THEN f.set_volume
        ELSE NOT list_has_any(string_split(f.conditions, ','), coalesce(r.no_volume, [])) END) AS counts_volume
FROM flagged AS f
CROSS JOIN rules AS r;
-- name: enriched_market_data
-- returns: each trade with the signals of the last bar completed before it (as-of join)
-- A bar [bar_end_ns - bar_seconds, bar_end_ns) is complete at bar_end_ns, so a trade at ts_ns sees the
-- newest bar with bar_end_ns <= ts_ns. One row per trade per computed grid (bar_seconds); signal columns
-- are NULL for trades before the symbol's first completed bar (and bar_seconds too while no bar exists).
-- sets_price / counts_volume: whether Polygon's rules let the print set the last-sale price and count in volume
-- (eligible_trades); the signals only ever use prints that may.
CREATE OR REPLACE VIEW enriched_market_data AS
SELECT
    m.market,
    m.symbol,
    m.ts_ns,
    make_timestamp(m.ts_ns // 1000) AS ts,
    m.price,
    m.size,
    m.exchange,
    m.trade_id,
    m.conditions,
    m.correction,
    m.sets_price,
    m.counts_volume,
    m.received_ns,
    m.source,
    g.bar_seconds,
    s.bar_end_ns AS signal_bar_end_ns,
    s.close AS bar_close,
    s.vwap AS bar_vwap,
    s.log_return,
    s.garch_sigma,
    s.standardized_return,
    s.lee_mykland_stat,
    s.jump_threshold,
    s.jump_detected,
    s.bns_stat,
    s.trade_intensity_zscore,
    s.conditional_duration,
    s.acd_surprise,
    s.vpin,
    s.vpin_cdf,
    s.trading_signal,
    s.signal_reason
FROM eligible_trades AS m
CROSS JOIN (
    SELECT DISTINCT bar_seconds FROM trading_signals
    UNION ALL
    SELECT NULL WHERE NOT EXISTS (SELECT 1 FROM trading_signals)   -- trades still show before any bar
) AS g
ASOF LEFT JOIN trading_signals AS s
    ON s.symbol = m.symbol AND s.bar_seconds = g.bar_seconds AND m.ts_ns >= s.bar_end_ns;
-- name: jump_events
-- returns: the bars whose Lee-Mykland statistic crossed its threshold, with the jump's direction
CREATE OR REPLACE VIEW jump_events AS
SELECT
    symbol,
    bar_end_ns,
    make_timestamp(bar_end_ns // 1000) AS bar_end,
    bar_seconds,
    CASE WHEN log_return > 0 THEN 'up' ELSE 'down' END AS direction,
    log_return,
    lee_mykland_stat,
    jump_threshold,
    abs(lee_mykland_stat) / jump_threshold AS threshold_ratio,
    close,
    n_trades,
    volume,
    garch_sigma,
    bns_stat,
    vpin,
    trading_signal,
    signal_reason
FROM trading_signals
WHERE jump_detected;
-- name: symbol_metrics
-- returns: one row per symbol per session day (UTC date of the bars' ends) and grid
-- Realized variance RV = sum r^2; bipower variation BV = (pi/2) sum |r_j||r_{j-1}| (highfrequency form);
-- tripower quarticity TP = M^2/(M-2) mu_{4/3}^-3 sum |r_j r_{j-1} r_{j-2}|^(4/3); daily BNS is the ratio
-- statistic with max adjustment ((RV-BV)/RV) / sqrt(theta/M max(1, TP/BV^2)), theta = pi^2/4 + pi - 5
-- (spec/signals.md §3). Prices come from the day's trades as Polygon's rules allow (eligible_trades): open and
-- close from prints that may set the last sale, high and low from those that may set them, trades, volume and
-- VWAP from those that count in volume.
CREATE OR REPLACE VIEW symbol_metrics AS
WITH bar_returns AS (
    SELECT
        symbol,
        bar_seconds,
        CAST(make_timestamp(bar_end_ns // 1000) AS DATE) AS session_date,
        bar_end_ns,
        log_return AS r,
        lag(log_return) OVER w AS r1,
        lag(log_return, 2) OVER w AS r2,
        jump_detected,
        vpin,
        trading_signal,
        signal_reason
    FROM trading_signals
    WINDOW w AS (PARTITION BY symbol, bar_seconds, CAST(make_timestamp(bar_end_ns // 1000) AS DATE)
                 ORDER BY bar_end_ns)
),
daily_bars AS (
    SELECT
        symbol,
        bar_seconds,
        session_date,
        count(r) AS n_returns,
        sum(r * r) AS realized_variance,
        (pi() / 2) * sum(abs(r) * abs(r1)) AS bipower_variation,
        1.7434720745 * sum(pow(abs(r * r1 * r2), 4.0 / 3.0)) AS tp_sum,
        count(*) FILTER (WHERE jump_detected) AS jump_count,
        avg(vpin) AS mean_vpin,
        max(vpin) AS max_vpin,
        arg_max(trading_signal, bar_end_ns) AS last_signal,
        arg_max(signal_reason, bar_end_ns) AS last_signal_reason,
        max(bar_end_ns) AS last_bar_end_ns
    FROM bar_returns
    GROUP BY ALL
),
daily_trades AS (
    SELECT
        symbol,
        CAST(make_timestamp(ts_ns // 1000) AS DATE) AS session_date,
        count(*) FILTER (WHERE counts_volume) AS trades,
        sum(size) FILTER (WHERE counts_volume) AS volume,
        sum(price * size) FILTER (WHERE counts_volume) / nullif(sum(size) FILTER (WHERE counts_volume), 0) AS vwap,
        arg_min(price, ts_ns) FILTER (WHERE sets_price) AS open,
        max(price) FILTER (WHERE sets_high_low) AS high,
        min(price) FILTER (WHERE sets_high_low) AS low,
        arg_max(price, ts_ns) FILTER (WHERE sets_price) AS close
    FROM eligible_trades
    GROUP BY ALL
)
SELECT
    b.symbol,
    b.session_date,
    b.bar_seconds,
    t.trades,
    t.volume,
    t.vwap,
    t.open,
    t.high,
    t.low,
    t.close,
    b.n_returns,
    b.realized_variance,
    b.bipower_variation,
    CASE
        WHEN b.n_returns < 3 OR b.realized_variance <= 0 OR b.bipower_variation <= 0 THEN NULL
        ELSE ((b.realized_variance - b.bipower_variation) / b.realized_variance)
             / sqrt((pi() * pi() / 4 + pi() - 5) / b.n_returns
                    * greatest(1.0, (b.n_returns * b.n_returns / (b.n_returns - 2.0)) * b.tp_sum
                                    / (b.bipower_variation * b.bipower_variation)))
    END AS bns_stat,
    b.jump_count,
    b.mean_vpin,
    b.max_vpin,
    b.last_signal,
    b.last_signal_reason,
    b.last_bar_end_ns
FROM daily_bars AS b
LEFT JOIN daily_trades AS t USING (symbol, session_date);
-- name: latest_signals
-- returns: the newest trading_signals row of every symbol on every grid
CREATE OR REPLACE VIEW latest_signals AS
SELECT
    *,
    make_timestamp(bar_end_ns // 1000) AS bar_end
FROM trading_signals
QUALIFY row_number() OVER (PARTITION BY symbol, bar_seconds ORDER BY bar_end_ns DESC) = 1;
-- name: trades_all
-- returns: every row of market_data: those in the live file and those retention moved to the Parquet archive
-- (ARCHIVE_PATH/trades, sql/archive.py), with the columns of market_data. As written here the archive branch is empty;
-- once the archive holds a file of this table, DuckDBStorage.create_views replaces its "(FROM market_data LIMIT 0)"
-- by read_parquet over the archive's files (hive partitioning, the path a quoted literal; sql/archive_paths.py)
CREATE OR REPLACE VIEW trades_all AS
SELECT market, symbol, ts_ns, price, size, exchange, trade_id, conditions, tape, sequence, trf_id, trf_ts_ns, received_ns, source, correction FROM market_data
UNION ALL
SELECT market, symbol, ts_ns, price, size, exchange, trade_id, conditions, tape, sequence, trf_id, trf_ts_ns, received_ns, source, correction FROM (FROM market_data LIMIT 0) AS archived;
-- name: quotes_all
-- returns: every row of quotes: those in the live file and those retention moved to the Parquet archive
-- (ARCHIVE_PATH/quotes, sql/archive.py), with the columns of quotes. As written here the archive branch is empty;
-- once the archive holds a file of this table, DuckDBStorage.create_views replaces its "(FROM quotes LIMIT 0)"
-- by read_parquet over the archive's files (hive partitioning, the path a quoted literal; sql/archive_paths.py)
CREATE OR REPLACE VIEW quotes_all AS
SELECT market, symbol, ts_ns, bid_price, bid_size, ask_price, ask_size, bid_exchange, ask_exchange, conditions, sequence, tape, received_ns, source FROM quotes
UNION ALL
SELECT market, symbol, ts_ns, bid_price, bid_size, ask_price, ask_size, bid_exchange, ask_exchange, conditions, sequence, tape, received_ns, source FROM (FROM quotes LIMIT 0) AS archived;
-- name: signals_all
-- returns: every row of trading_signals: those in the live file and those retention moved to the Parquet archive
-- (ARCHIVE_PATH/signals, sql/archive.py), with the columns of trading_signals. As written here the archive branch is empty;
-- once the archive holds a file of this table, DuckDBStorage.create_views replaces its "(FROM trading_signals LIMIT 0)"
-- by read_parquet over the archive's files (hive partitioning, the path a quoted literal; sql/archive_paths.py)
CREATE OR REPLACE VIEW signals_all AS
SELECT symbol, bar_end_ns, bar_seconds, n_trades, volume, vwap, close, log_return, garch_sigma, standardized_return, lee_mykland_stat, jump_threshold, jump_detected, bns_stat, trade_intensity_zscore, conditional_duration, acd_surprise, vpin, vpin_cdf, trading_signal, signal_reason, computed_at_ns FROM trading_signals
UNION ALL
SELECT symbol, bar_end_ns, bar_seconds, n_trades, volume, vwap, close, log_return, garch_sigma, standardized_return, lee_mykland_stat, jump_threshold, jump_detected, bns_stat, trade_intensity_zscore, conditional_duration, acd_surprise, vpin, vpin_cdf, trading_signal, signal_reason, computed_at_ns FROM (FROM trading_signals LIMIT 0) AS archived;
