-- The DuckDB layout of commit 57de66c (bar_liquidity without vpin_lee_ready; schema version 4): its schema files then
-- its views. A reader of such a file must answer every tool, a writer migrates it; generated with git show, never edited.
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
-- name: bar_liquidity
-- Per-bar liquidity from trades and quotes (udx/liquidity.py, udx/impact.py), one row per trading_signals bar
-- the transform wrote since quotes were wired in, in the same transaction; key (symbol, bar_seconds, bar_end_ns)
-- like trading_signals, kept by its only writer (upsert_bar_liquidity deletes a recomputed bar first). A symbol
-- without quotes has n_quotes 0 and NULL quote measures; its volumes are signed by the tick rule.
CREATE TABLE IF NOT EXISTS bar_liquidity (
    symbol           VARCHAR NOT NULL,
    bar_end_ns       BIGINT  NOT NULL,   -- exclusive end of the bar, as in trading_signals
    bar_seconds      INTEGER NOT NULL,
    n_quotes         BIGINT  NOT NULL,   -- quotes stamped inside the bar
    quoted_spread    DOUBLE,             -- time-weighted (ask - bid) / mid of the usable NBBO in force
    effective_spread DOUBLE,             -- volume-weighted 2 |p - mid| / mid of trades with a usable prevailing quote
    buy_volume       DOUBLE  NOT NULL,   -- size of trades signed +1 by Lee-Ready
    sell_volume      DOUBLE  NOT NULL,   -- size of trades signed -1
    signed_volume    DOUBLE  NOT NULL,   -- buy_volume - sell_volume
    order_imbalance  DOUBLE,             -- (buy - sell) / (buy + sell)
    depth_imbalance  DOUBLE,             -- time-weighted (bid_size - ask_size) / (bid_size + ask_size)
    amihud           DOUBLE,             -- |log_return| / dollar volume (per dollar)
    roll_spread      DOUBLE,             -- 2 sqrt(-cov(dp_t, dp_t-1)) over ROLL_WINDOW trade-price changes, price units
    kyle_lambda      DOUBLE,             -- OLS slope of bar returns on signed dollar volume over KYLE_WINDOW bars
    computed_at_ns   BIGINT  NOT NULL
);
-- name: daily_metrics
-- The metrics of the view symbol_metrics (views/030_symbol_metrics.sql) of every final day, kept: one row per
-- symbol, session day (UTC date of the bars' ends) and grid, written by the transform once the day is final (its
-- watermark passed the day's end; DuckDBStorage.write_daily_metrics, queries/write_daily_metrics.sql) and never
-- changed after, except when the day's signals are recomputed (reset_/rewind_daily_metrics delete it; it is written
-- again). symbol_metrics and get_symbol_metrics read final days here and compute only the open day(s) from the
-- bars and trades, so a day keeps its metrics after retention moved its trades to the archive, and a call over
-- every symbol reads a small table instead of every trade. Kept RETAIN_METRICS_DAYS days (0: for ever).
CREATE TABLE IF NOT EXISTS daily_metrics (
    symbol             VARCHAR NOT NULL,
    session_date       DATE    NOT NULL,
    bar_seconds        INTEGER NOT NULL,
    trades             BIGINT,
    volume             DOUBLE,
    vwap               DOUBLE,
    open               DOUBLE,
    high               DOUBLE,
    low                DOUBLE,
    close              DOUBLE,
    n_returns          BIGINT  NOT NULL,
    realized_variance  DOUBLE,
    bipower_variation  DOUBLE,
    bns_stat           DOUBLE,
    jump_count         BIGINT  NOT NULL,
    mean_vpin          DOUBLE,
    max_vpin           DOUBLE,
    last_signal        VARCHAR,
    last_signal_reason VARCHAR,
    last_bar_end_ns    BIGINT  NOT NULL,
    computed_at_ns     BIGINT  NOT NULL
);
-- name: view_settings
-- The settings a view needs (a view cannot take parameters), written by the file's writer from its Settings at
-- every open (set_view_setting): quote_stale_ns = QUOTE_STALE_SECONDS in ns, read by enriched_market_data and
-- enriched_data_page so the SQL flags a stale quote exactly where udx.nbbo does. A reader sees what the last
-- writer wrote; a view finding no row flags no quote stale.
CREATE TABLE IF NOT EXISTS view_settings (
    name  VARCHAR PRIMARY KEY,
    value BIGINT NOT NULL
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
-- name: quote_book
-- returns: one quote per symbol and stamp (ts_ns): of the quotes sharing a stamp, the last in SIP order (the
-- largest sequence, a missing one last, then received_ns, bid, ask), as bid_price / ask_price as stored. The
-- as-of joins of enriched_market_data, enriched_data_page, symbol_daily_spreads and chart_series read it, so a
-- stamp is one row; filters on symbol and ts_ns reach the quotes table below the grouping.
CREATE OR REPLACE VIEW quote_book AS
SELECT
    symbol,
    ts_ns,
    arg_max(bid_price, (COALESCE(sequence, 9223372036854775807), received_ns, bid_price, ask_price)) AS bid_price,
    arg_max(ask_price, (COALESCE(sequence, 9223372036854775807), received_ns, bid_price, ask_price)) AS ask_price
FROM quotes
GROUP BY symbol, ts_ns;
-- name: enriched_market_data
-- returns: each trade with its prevailing quote, its Lee-Ready side and the signals of the last bar completed
-- before it (as-of joins)
-- A bar [bar_end_ns - bar_seconds, bar_end_ns) is complete at bar_end_ns, so a trade at ts_ns sees the
-- newest bar with bar_end_ns <= ts_ns. One row per trade per computed grid (bar_seconds); signal columns
-- are NULL for trades before the symbol's first completed bar (and bar_seconds too while no bar exists).
-- sets_price / counts_volume: whether Polygon's rules let the print set the last-sale price and count in volume
-- (eligible_trades); the signals only ever use prints that may.
-- Quotes, as udx.nbbo and udx.trade_sign decide them (README "Trades and quotes"):
-- * the prevailing quote is the newest quote of the symbol stamped STRICTLY BEFORE the trade (of quotes sharing
--   a stamp, the last in SIP order: the view quote_book);
--   bid_price / ask_price are its sides, NULL for a side that is missing, not finite or <= 0 (Polygon writes 0),
--   and both NULL when no quote is in force;
-- * quote_flags, OR-ed bits of udx.nbbo and udx.trade_sign: 1 no quote, 2 stale (older than the
--   quote_stale_ns of view_settings = QUOTE_STALE_SECONDS; a stale quote is not in force: no prices, and none
--   of the next three bits, where udx.nbbo keeps them), 4 one-sided, 8 locked, 16 crossed, 32 at the
--   midpoint (signed by the tick rule), 64 no usable quote (signed by the tick rule alone);
-- * trade_side +1 buy / -1 sell / 0 unknown: the quote rule against the midpoint m (|2p - b - a| <= 1e-9 p is
--   the midpoint), else the tick rule: the sign of the last non-zero change of the price-setting prints
--   (sets_price) in trade order (ts_ns, COALESCE(sequence, max), exchange, trade_id), this print included
--   when it sets the price; a print that may not set it is compared with the last one that did first;
-- * effective_spread = 2 |p - m| / m with a usable quote (quote_flags 0 or 32), NULL otherwise.
CREATE OR REPLACE VIEW enriched_market_data AS
WITH limits AS (
    SELECT max(value) AS stale_ns FROM view_settings WHERE name = 'quote_stale_ns'
),
quoted AS (   -- each trade with its prevailing quote; a missing side is NULL
    SELECT
        m.*,
        q.ts_ns AS quote_ts_ns,
        CASE WHEN q.bid_price > 0 AND q.bid_price < 'inf'::DOUBLE THEN q.bid_price END AS bid,
        CASE WHEN q.ask_price > 0 AND q.ask_price < 'inf'::DOUBLE THEN q.ask_price END AS ask,
        lag(CASE WHEN m.sets_price THEN m.price END IGNORE NULLS) OVER w AS last_price
    FROM eligible_trades AS m
    ASOF LEFT JOIN quote_book AS q ON q.symbol = m.symbol AND m.ts_ns > q.ts_ns
    WINDOW w AS (PARTITION BY m.symbol ORDER BY m.ts_ns, COALESCE(m.sequence, 9223372036854775807), m.exchange,
                 m.trade_id)
),
flagged AS (
    SELECT
        t.*,
        CASE
            WHEN t.quote_ts_ns IS NULL THEN 1
            WHEN t.ts_ns - t.quote_ts_ns > (SELECT stale_ns FROM limits) THEN 2
            WHEN t.bid IS NULL OR t.ask IS NULL THEN 4
            WHEN t.bid = t.ask THEN 8
            WHEN t.bid > t.ask THEN 16
            ELSE 0
        END AS nbbo_flags,
        CASE WHEN t.sets_price AND t.price <> t.last_price THEN sign(t.price - t.last_price) END AS change
    FROM quoted AS t
),
signed AS (
    SELECT
        f.*,
        CASE WHEN NOT f.sets_price AND f.price <> f.last_price THEN sign(f.price - f.last_price)
             ELSE coalesce(last_value(f.change IGNORE NULLS) OVER w, 0) END AS tick_side,
        2.0 * f.price - f.bid - f.ask AS mid_gap
    FROM flagged AS f
    WINDOW w AS (PARTITION BY f.symbol ORDER BY f.ts_ns, COALESCE(f.sequence, 9223372036854775807), f.exchange,
                 f.trade_id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
),
trades AS (
    SELECT
        s.* EXCLUDE (bid, ask, quote_ts_ns, last_price, nbbo_flags, change, tick_side, mid_gap),
        CASE WHEN s.nbbo_flags NOT IN (1, 2) THEN s.bid END AS bid_price,   -- none when no quote is in force
        CASE WHEN s.nbbo_flags NOT IN (1, 2) THEN s.ask END AS ask_price,
        CAST(CASE WHEN s.nbbo_flags <> 0 THEN s.tick_side
                  WHEN s.mid_gap > 1e-9 * s.price THEN 1
                  WHEN s.mid_gap < -1e-9 * s.price THEN -1
                  ELSE s.tick_side END AS TINYINT) AS trade_side,
        CAST(s.nbbo_flags + CASE WHEN s.nbbo_flags <> 0 THEN 64
                                 WHEN abs(s.mid_gap) <= 1e-9 * s.price THEN 32 ELSE 0 END AS UTINYINT)
            AS quote_flags,
        CASE WHEN s.nbbo_flags = 0
             THEN 2.0 * abs(s.price - 0.5 * (s.bid + s.ask)) / (0.5 * (s.bid + s.ask)) END AS effective_spread
    FROM signed AS s
)
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
    m.bid_price,
    m.ask_price,
    m.trade_side,
    m.quote_flags,
    m.effective_spread,
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
FROM trades AS m
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
-- Final days are read from daily_metrics (the transform writes each once final: schema/012_daily_metrics.sql);
-- the days after a grid's newest written day (the open day, or every day of a grid never written) are computed
-- here from the bars and trades, which start there (so a day whose trades were archived keeps its metrics).
CREATE OR REPLACE VIEW symbol_metrics AS
WITH open_from AS (
    SELECT bar_seconds, epoch_ns(CAST(max(session_date) + 1 AS TIMESTAMP)) AS from_ns
    FROM daily_metrics
    GROUP BY bar_seconds
),
trades_from AS (
    SELECT coalesce(min(coalesce(o.from_ns, 0)), 0) AS from_ns
    FROM (SELECT DISTINCT bar_seconds FROM trading_signals) AS g
    LEFT JOIN open_from AS o USING (bar_seconds)
),
bar_returns AS (
    SELECT
        s.symbol,
        s.bar_seconds,
        CAST(make_timestamp(s.bar_end_ns // 1000) AS DATE) AS session_date,
        s.bar_end_ns,
        s.log_return AS r,
        lag(s.log_return) OVER w AS r1,
        lag(s.log_return, 2) OVER w AS r2,
        s.jump_detected,
        s.vpin,
        s.trading_signal,
        s.signal_reason
    FROM trading_signals AS s
    LEFT JOIN open_from AS o USING (bar_seconds)
    WHERE s.bar_end_ns >= coalesce(o.from_ns, 0)
    WINDOW w AS (PARTITION BY s.symbol, s.bar_seconds, CAST(make_timestamp(s.bar_end_ns // 1000) AS DATE)
                 ORDER BY s.bar_end_ns)
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
    WHERE ts_ns >= (SELECT from_ns FROM trades_from)
    GROUP BY ALL
)
SELECT * EXCLUDE (computed_at_ns) FROM daily_metrics
UNION ALL
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
-- name: liquidity_signals
-- returns: every bar with bar_liquidity measures, beside its trading_signals price, volume and return
-- One row per (symbol, bar_seconds, bar_end_ns) the transform wrote since quotes were wired in (bars written
-- before have no bar_liquidity row and are left out).
CREATE OR REPLACE VIEW liquidity_signals AS
SELECT
    s.symbol,
    s.bar_end_ns,
    s.bar_seconds,
    s.n_trades,
    s.volume,
    s.vwap,
    s.close,
    s.log_return,
    l.n_quotes,
    l.quoted_spread,
    l.effective_spread,
    l.buy_volume,
    l.sell_volume,
    l.signed_volume,
    l.order_imbalance,
    l.depth_imbalance,
    l.amihud,
    l.roll_spread,
    l.kyle_lambda,
    make_timestamp(s.bar_end_ns // 1000) AS bar_end
FROM trading_signals AS s
JOIN bar_liquidity AS l
  ON l.symbol = s.symbol AND l.bar_seconds = s.bar_seconds AND l.bar_end_ns = s.bar_end_ns;
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
