"""Every setting of every process, in one frozen object.

Read once at start-up from the environment and ``.env`` (environment wins), then passed explicitly: no
module keeps a global copy. ``.env.example`` lists every field with its default; a test keeps the two in
step. Secrets are :class:`pydantic.SecretStr` so that ``repr`` and logs show ``**********``.

The settings live in ``sql`` because every other package already depends on it (DESIGN §4).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sql.archive_paths import check_archive_root

__all__ = ["Settings", "SessionSpec", "load_settings"]

#: A DuckDB memory size: a number and a unit (KB, MB, ... are powers of 1000; KiB, MiB, ... of 1024).
_MEMORY_SIZE = r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$"
_UNIT_BYTES = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
               "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}

#: A trading session as ``"HH:MM-HH:MM Area/City"``; ``24:00`` closes at the next midnight.
SessionSpec = str


class Settings(BaseSettings):
    """All configuration, named as in DESIGN §7 (environment names are the upper-case field names)."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,  # KEY= in .env means "use the default"
        extra="ignore",
        frozen=True,
        case_sensitive=False,
    )

    # --- storage -------------------------------------------------------------------------------------
    db_backend: Literal["duckdb", "vertica"] = "duckdb"
    duckdb_path: Path = Path("data/microstructure.duckdb")
    duckdb_threads: int = Field(2, ge=1, le=256, description="DuckDB worker threads")
    duckdb_memory_limit: str | None = Field(
        None,
        pattern=_MEMORY_SIZE,
        description="DuckDB buffer pool cap, e.g. 512MB (unset: DuckDB's default, 80% of RAM); bounds the blocks "
        "DuckDB keeps cached, not the whole process",
    )
    vertica_host: str | None = None
    vertica_port: int = Field(5433, ge=1, le=65535)
    vertica_db: str = "VMart"
    vertica_user: str = "dbadmin"
    vertica_pass: SecretStr = SecretStr("")
    vertica_connect_timeout_seconds: float = Field(
        10.0, gt=0, description="connecting to Vertica (TCP, TLS, login) gives up after this long"
    )
    vertica_write_timeout_seconds: int = Field(
        3600, ge=1,
        description="RUNTIMECAP of the writer sessions: Vertica cancels an append, MERGE or in-database transform "
        "statement running longer (the server's reads are capped by MCP_QUERY_TIMEOUT_MS)",
    )

    # --- retention and archive (sql/archive.py) --------------------------------------------------------
    retain_trades_days: int = Field(
        0, ge=0,
        description="UTC days of trades (market_data) kept in the live file, counted back from the newest trade's "
        "day; older days move to the Parquet archive. 0 = keep everything (off)",
    )
    retain_quotes_days: int = Field(
        0, ge=0, description="the same for quotes; 0 = keep everything (off)"
    )
    retain_signals_days: int = Field(
        0, ge=0,
        description="the same for trading_signals (bars; symbol_metrics reads final days from "
        "daily_metrics); 0 = keep everything (off); when on, at least RETAIN_TRADES_DAYS",
    )
    retain_metrics_days: int = Field(
        0, ge=0,
        description="UTC days of daily_metrics kept (counted back from the newest day it holds); older rows "
        "are deleted by the archive run. 0 = keep for ever (the default): a day keeps its metrics after its "
        "trades and bars left the live file",
    )
    archive_path: Path | None = Field(
        None,
        description="folder of the Parquet archive (hive-partitioned <table>/market=/date=/symbol=); unset: "
        "beside the DuckDB file, <DUCKDB_PATH without suffix>.archive",
    )
    archive_interval_seconds: float = Field(
        0.0, ge=0,
        description="the embedded owner archives what retention allows this often; 0 = never (run "
        "`microstructure archive` instead)",
    )

    # --- Kafka ---------------------------------------------------------------------------------------
    kafka_bootstrap_servers: str | None = None
    kafka_group_id: str = "microstructure-load"
    kafka_trades_topic: str = "polygon.trades"
    kafka_quotes_topic: str = "polygon.quotes"
    kafka_signals_topic: str = "microstructure.signals"
    kafka_partitions: int = Field(4, ge=1, description="partitions of the topics stream/load/replay create")
    kafka_dlq_suffix: str = Field(".dlq", min_length=1, description="dead-letter topic = <topic><suffix>")
    load_batch_rows: int = Field(
        250_000, ge=1,
        description="the loader writes a batch at this many records (DuckDB writes batches of at least one "
        "row group, 122,880 rows, straight to the file instead of the WAL: 2-3x faster appends)",
    )
    load_batch_seconds: float = Field(1.0, gt=0, description="...or when its oldest record is this old")
    load_duckdb_memory_limit: str = Field(
        "256MB",
        pattern=_MEMORY_SIZE,
        description="DuckDB buffer pool cap of `microstructure load` when lower than DUCKDB_MEMORY_LIMIT: the "
        "loader reads back only the newest row groups (the dedupe anti-join), but DuckDB keeps the blocks it "
        "appended cached until it nears its cap (64MB: ~20 % slower drains)",
    )
    load_reopen_rows: int = Field(
        1_000_000,
        ge=0,
        description="`microstructure load` closes and reopens the database after writing this many rows (0 = "
        "never): DuckDB releases only on close the 0.6-1 MiB per million rows it keeps of the row groups a "
        "process wrote, and the blocks it appended",
    )
    stats_interval_seconds: float = Field(30.0, gt=0, description="statistics line period of stream/load")
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(0, ge=0, le=65535, description="Prometheus /metrics of stream/load; 0 = off")

    # --- stream spool ---------------------------------------------------------------------------------
    stream_spool_path: Path | None = Field(
        None,
        description="JSON-lines file of the events Kafka has not confirmed when `stream` stops (sent first at the "
        "next start, or with `replay`); default stream-<POLYGON_MARKET>.spool.jsonl beside DUCKDB_PATH",
    )
    stream_spool_mode: Literal["on-failure", "always"] = Field(
        "on-failure",
        description="on-failure: only undelivered events are written, at stop or when a delivery fails; always: "
        "every frame is written and fsynced before it is produced, so a SIGKILL loses nothing either",
    )
    stream_stop_wait_seconds: float = Field(
        30.0, ge=0, description="on stop, `stream` waits this long for Kafka to confirm queued events, then spools "
        "the rest (a second Ctrl-C/SIGTERM skips the wait)",
    )

    # --- Polygon feed --------------------------------------------------------------------------------
    polygon_api_key: SecretStr | None = None
    polygon_feed: str = Field("socket.polygon.io", description="feed host, e.g. delayed.polygon.io")
    polygon_market: Literal["stocks", "crypto"] = "stocks"
    polygon_subscriptions: str = "T.*"
    polygon_secure: bool = True

    # --- simulator (demo) ----------------------------------------------------------------------------
    sim_host: str = "127.0.0.1"
    sim_port: int = Field(8765, ge=0, le=65535)
    sim_seed: int = 7
    sim_rate: float = Field(10.0, gt=0, description="simulated trades per second, all symbols together")
    sim_history_days: float = Field(3.0, ge=0, le=30, description="days of history the demo backfills")
    sim_feed: str = Field(
        "", pattern=r"^([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$|^$",
        description="host:port of a simulator already running (`microstructure simulate`, same SIM_SEED and "
        "SIM_RATE): the demo reads its feed instead of starting its own in-process; empty: its own",
    )

    # --- quotes ---------------------------------------------------------------------------------------
    quote_size_unit: Literal["auto", "shares", "round_lots"] = Field(
        "auto", description="how a quotes_v1 flat file's bid/ask sizes read: auto = round lots of 100 shares "
        "before 2025-11-03 (America/New_York), shares from then on (Polygon's change); or one unit for all rows"
    )
    quote_stale_seconds: float = Field(
        300.0, gt=0, description="a trade's prevailing quote older than this is stale (flagged, not used to sign)"
    )
    roll_window: int = Field(
        250, ge=4, description="trade-price changes in the trailing window of Roll's spread (bar_liquidity)"
    )
    kyle_window: int = Field(
        30, ge=3, description="bars in the trailing window of Kyle's lambda regression (bar_liquidity)"
    )
    liquidity_horizon_seconds: int = Field(
        300, ge=1, le=86_400, description="horizon H of the realized spread and price impact (bar_realized_spread): "
        "a trade is compared with the midpoint prevailing H seconds later, and a bar is written once the "
        "transform's watermark passed its end + H"
    )

    # --- ingest batching -----------------------------------------------------------------------------
    ingest_batch_rows: int = Field(5000, ge=1)
    ingest_batch_seconds: float = Field(
        0.5, gt=0,
        description="a feed's batch is written once its first frame is this old (or it holds INGEST_BATCH_ROWS rows): "
        "a stored trade waits at most this long plus one write before get_real_time_data shows it; each write has "
        "a fixed CPU cost, so a lower value costs CPU at low rates",
    )

    # --- MCP / HTTP server ---------------------------------------------------------------------------
    mcp_host: str = "127.0.0.1"
    mcp_port: int = Field(8080, ge=0, le=65535)
    mcp_auth_token: SecretStr | None = None
    mcp_allowed_hosts: str = "127.0.0.1:*,localhost:*,[::1]:*"
    mcp_allowed_origins: str = "http://127.0.0.1:*,http://localhost:*"
    mcp_max_rows: int = Field(1000, ge=1, description="hard cap on rows a tool returns")
    mcp_default_rows: int = Field(100, ge=1, description="rows returned when limit is not given")
    mcp_query_timeout_ms: int = Field(5000, ge=1, description="a query running longer is interrupted")
    mcp_sql_max_bytes: int = Field(
        1_048_576, ge=1024,
        description="analyst SQL (tool query, POST /api/v1/sql): rows beyond this many bytes of JSON are cut "
        "(truncated_by=bytes); a first row above it is an error",
    )
    mcp_response_cache_ms: int = Field(
        1000, ge=0, description="tool results are reused while the data is unchanged, rechecked this often; 0 = off"
    )
    mcp_kept_bars: int = Field(
        256, ge=0, le=100_000,
        description="newest bars per symbol the process owning a DuckDB file keeps in memory for "
        "get_trading_signals (pages within them need no query; ~1 KB a bar, ~3.5 KB once served); 0 = none",
    )
    mcp_response_cache_bytes: int = Field(
        64 * 2**20, ge=0,
        description="bytes of answers the response cache keeps (least recently used dropped first); an answer above "
        "an eighth of it is not cached",
    )
    mcp_max_connections: int = Field(
        256, ge=1,
        description="open HTTP connections served; a request on a connection beyond them is answered 503 with "
        "Retry-After, and beyond twice as many a new connection is closed at once",
    )
    mcp_keep_alive_seconds: float = Field(
        5.0, gt=0, description="an idle keep-alive connection (no request started) is closed after this long"
    )
    mcp_header_timeout_seconds: float = Field(
        10.0, gt=0, description="a connection whose request headers are not complete this long after it opened "
        "(or after the request's first byte) is closed",
    )
    mcp_body_timeout_seconds: float = Field(
        30.0, gt=0, description="a request whose body has not fully arrived this long after its headers is "
        "answered 408 and closed",
    )
    mcp_worker_threads: int = Field(
        4, ge=1, le=256,
        description="threads running tool calls and REST routes; more calls wait on the event loop (not in threads) "
        "for one to free up",
    )
    mcp_switch_interval_ms: float = Field(
        1.0, gt=0, le=100,
        description="the server process's GIL switch interval (sys.setswitchinterval): a thread holding the GIL "
        "hands it over after this long, so the event loop (and /health) waits about this long per hand-over "
        "behind the tool threads; Python's default is 5",
    )
    mcp_chart_workers: int = Field(
        2, ge=1, le=32,
        description="processes drawing charts (started on the first chart, then reused); more charts wait for one",
    )
    mcp_chart_timeout_ms: int = Field(
        30_000, ge=100,
        description="a chart not drawn this long after it was asked for (waiting for a chart process included) is "
        "an error and its process is stopped",
    )
    mcp_health_max_age_ms: int = Field(
        1000, ge=0,
        description="/health answers from a check this recent, at once; an older one starts the next check and is "
        "answered while it runs (at most MCP_QUERY_TIMEOUT_MS more)",
    )
    mcp_stream_idle_seconds: float = Field(
        60.0, gt=0, description="an SSE stream (GET /mcp) that sent no event (keep-alive pings do not count) for "
        "this long is ended and its connection closed",
    )

    # --- signals -------------------------------------------------------------------------------------
    bar_seconds: int = Field(60, ge=1, le=3600)
    session_stocks: SessionSpec = "09:30-16:00 America/New_York"
    session_crypto: SessionSpec = "00:00-24:00 UTC"
    lm_alpha: float = Field(0.01, gt=0, lt=1, description="Lee-Mykland significance level")
    lm_window: int | None = Field(None, ge=3, description="LM window K in bars; default ceil(sqrt(252 n))")
    bns_window: int | None = Field(None, ge=3, description="BNS window in bars; default one session")
    garch_window: int = Field(2000, ge=250, description="bars in the trailing GARCH(1,1) fit window")
    garch_min_obs: int = Field(250, ge=50, description="bars before the first GARCH fit (EWMA below)")
    acd_window: int = Field(2000, ge=100, description="adjusted durations in the trailing ACD fit window")
    acd_min_obs: int = Field(500, ge=50, description="adjusted durations before the first ACD fit")
    acd_bin_seconds: int = Field(1800, ge=60, description="bin width of the ACD diurnal profile")
    intensity_lookback: int = Field(60, ge=2, description="previous bars in the trade-intensity baseline")
    seasonal_sessions: int = Field(
        20, ge=2, le=250,
        description="earlier sessions behind the intraday volatility profile and the time-of-day intensity baseline",
    )
    profile_bucket_minutes: int = Field(
        15, ge=1, le=240,
        description="width of a time-of-day bucket of the intraday volatility profile (and of the bars of the "
                    "day around a bar that make its time-of-day intensity baseline)",
    )
    profile_min_sessions: int = Field(
        3, ge=1, description="finished sessions before the profile is estimated (flat profile until then)"
    )
    intensity_min_sessions: int = Field(
        10, ge=2, description="sessions before the time-of-day intensity baseline replaces the trailing one"
    )
    vpin_buckets_per_day: int = Field(50, ge=1, description="VPIN bucket size V = ADV / this")
    vpin_window: int = Field(50, ge=1, description="buckets n per VPIN value")
    vpin_cdf_window: int = Field(1000, ge=50, description="earlier VPIN values the causal CDF ranks against")
    signal_vpin_cdf_hold: float = Field(0.9, gt=0, le=1, description="VPIN CDF at or above: HOLD")
    signal_momentum_z: float = Field(2.0, gt=0, description="|standardized return| for a momentum signal")
    signal_intensity_z: float = Field(2.0, description="trade-intensity z needed for a momentum signal")
    transform_interval_seconds: float = Field(
        1.0, gt=0, description="longest wait between transform passes (the embedded loop also wakes when a bar "
        "becomes final); transform --follow's interval"
    )
    transform_lateness_seconds: float = Field(
        2.0, ge=0, description="a bar is final once the newest trade is this far past its end"
    )

    @model_validator(mode="after")
    def _retention_is_coherent(self) -> Settings:
        if self.retain_signals_days and self.retain_trades_days and self.retain_signals_days < self.retain_trades_days:
            raise ValueError(f"RETAIN_SIGNALS_DAYS={self.retain_signals_days} is shorter than "
                             f"RETAIN_TRADES_DAYS={self.retain_trades_days}: signals stay at least as long as trades")
        check_archive_root(self.archive_root())
        return self

    def archive_root(self) -> Path:
        """The archive folder as an absolute path: ``archive_path`` or ``<duckdb_path without suffix>.archive``."""
        root = self.archive_path if self.archive_path is not None else self.duckdb_path.with_suffix(".archive")
        return root.expanduser().absolute()

    @field_validator("polygon_api_key", "mcp_auth_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    def loader_memory_limit(self) -> str:
        """DuckDB memory limit of the ``load`` process: the lower of ``load_duckdb_memory_limit`` and
        ``duckdb_memory_limit`` (unset: DuckDB's default, higher than any cap a loader needs)."""
        cap = self.load_duckdb_memory_limit
        if self.duckdb_memory_limit is not None and _size_bytes(self.duckdb_memory_limit) < _size_bytes(cap):
            return self.duckdb_memory_limit
        return cap

    def for_loader(self) -> Settings:
        """These settings as ``microstructure load`` opens the database with: its DuckDB memory limit."""
        return self.model_copy(update={"duckdb_memory_limit": self.loader_memory_limit()})

    def spool_path(self) -> Path:
        """``STREAM_SPOOL_PATH``, or ``stream-<POLYGON_MARKET>.spool.jsonl`` beside ``DUCKDB_PATH``."""
        if self.stream_spool_path is not None:
            return self.stream_spool_path
        return self.duckdb_path.with_name(f"stream-{self.polygon_market}.spool.jsonl")

    def session_for(self, market: str) -> SessionSpec:
        """Return the session specification of ``market`` (``stocks`` or ``crypto``)."""
        if market == "crypto":
            return self.session_crypto
        return self.session_stocks


def _size_bytes(size: str) -> float:
    """Bytes of a size matching ``_MEMORY_SIZE``, e.g. ``"1.5GB"``."""
    number = size.rstrip("BKMGTib").strip()
    return float(number) * _UNIT_BYTES[size[len(number):].strip()]


def load_settings(**overrides: object) -> Settings:
    """Read the settings from the environment and ``.env``; keyword overrides win over both."""
    return Settings(**overrides)  # type: ignore[arg-type]
