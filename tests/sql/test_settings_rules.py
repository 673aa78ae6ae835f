"""sql/settings.py against its documented contract: README's configuration table and ``.env.example``, read as text.

Expected defaults are parsed here from README's "group | settings" table (``NAME`` (default: ...)) and from
``.env.example``; bounds and messages from what the README and the field descriptions promise (ports 0-65535,
"0 = off" settings accept 0, the others need a positive value, signals kept at least as long as trades, memory
sizes such as 512MB). The derived paths and the loader's memory limit are worked out by hand from the README's
words. Nothing is taken from the module under test as the expected value.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from sql import settings as settings_module
from sql.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]


def _env_example() -> dict[str, str]:
    out = {}
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key] = value
    return out


def _readme_table() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("| group | settings |")
    return text[start:text.index("\n\n", start)]


def _readme_defaults() -> dict[str, str]:
    """``NAME`` -> the text in its parentheses up to the first ``: ``, ``;`` or ``)`` (the default where it is one;
    ``host:port`` is not cut)."""
    return {m.group(1): m.group(2).strip() for m in re.finditer(r"`([A-Z][A-Z0-9_]+)` \(((?:[^:;)]|:(?=\S))+)", _readme_table())}


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No setting in the environment, no .env in the working directory."""
    monkeypatch.chdir(tmp_path)
    for key in _env_example():
        monkeypatch.delenv(key, raising=False)
    return tmp_path


def _make(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def _plain(value: object) -> object:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, Path):
        return str(value)
    return value


def _typed(text: str, default: object) -> object:
    """An .env.example value read as the plain type of the default it should equal."""
    if isinstance(default, bool):
        return text.lower() == "true"
    if isinstance(default, int):
        return int(text)
    if isinstance(default, float):
        return float(text)
    return text


def test_env_example_values_are_the_defaults(clean: Path) -> None:
    defaults = _make()
    example = _env_example()
    assert len(example) >= 90
    for key, text in example.items():
        default = _plain(getattr(defaults, key.lower()))
        if text == "":
            assert default in (None, ""), key
        else:
            assert default == _typed(text, default), key
            assert type(default) is not str or default == text, key


def _number(text: str) -> float | None:
    m = re.fullmatch(r"(\d[\d,]*(?:\.\d+)?)\s*(MiB)?", text) or re.match(r"(\d+)() (?:bars|trade-price) ", text)
    if m is None:
        return None
    return float(m.group(1).replace(",", "")) * (2**20 if m.group(2) else 1)


def test_readme_defaults_are_the_defaults(clean: Path) -> None:
    defaults = _make()
    checked = 0
    for name, text in _readme_defaults().items():
        value = _plain(getattr(defaults, name.lower()))
        number = _number(text)
        if number is not None:
            assert value == number, f"README: {name} ({text})"
            checked += 1
        elif "\\|" in text:  # choices, the default first
            choices = text.split("\\|")
            assert value == choices[0], name
            checked += 1
        elif text.startswith("unset"):
            assert value is None, name
            checked += 1
        elif re.fullmatch(r"[A-Za-z0-9.]+", text):  # a word: the default itself (duckdb, auto, 127.0.0.1, 256MB)
            assert value == text, f"README: {name} ({text})"
            checked += 1
    assert checked >= 30


def test_readme_choices_are_the_only_values(clean: Path) -> None:
    assert _readme_defaults()["STREAM_SPOOL_MODE"] == "on-failure\\|always"
    for mode in ("on-failure", "always"):
        assert _make(stream_spool_mode=mode).stream_spool_mode == mode
    with pytest.raises(ValidationError, match="stream_spool_mode"):
        _make(stream_spool_mode="never")
    for unit in ("auto", "shares", "round_lots"):
        assert _make(quote_size_unit=unit).quote_size_unit == unit
    with pytest.raises(ValidationError, match="quote_size_unit"):
        _make(quote_size_unit="lots")
    with pytest.raises(ValidationError, match="db_backend"):
        _make(db_backend="postgres")


def test_every_readme_setting_is_a_field_and_back() -> None:
    names = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", _readme_table()))
    fields = {n.upper() for n in Settings.model_fields}
    assert fields <= names
    assert fields == set(_env_example())


@pytest.mark.parametrize("name", ["mcp_port", "metrics_port", "sim_port"])
def test_ports(name: str, clean: Path) -> None:
    for good in (0, 1, 65535):
        assert getattr(_make(**{name: good}), name) == good
    for bad in (-1, 65536):
        with pytest.raises(ValidationError, match=name):
            _make(**{name: bad})


def test_the_vertica_port_is_a_port_a_server_can_listen_on(clean: Path) -> None:
    for good in (1, 5433, 65535):
        assert _make(vertica_port=good).vertica_port == good
    for bad in (0, -1, 65536, 70000):  # a client connects to a port: 0 is not one
        with pytest.raises(ValidationError, match="vertica_port"):
            _make(vertica_port=bad)


ZERO_IS_OFF = ["retain_trades_days", "retain_quotes_days", "retain_signals_days", "retain_metrics_days",
               "archive_interval_seconds", "load_reopen_rows", "mcp_response_cache_ms", "mcp_kept_bars",
               "mcp_response_cache_bytes", "mcp_health_max_age_ms", "stream_stop_wait_seconds",
               "transform_lateness_seconds", "sim_history_days"]
POSITIVE = ["duckdb_threads", "vertica_connect_timeout_seconds", "vertica_write_timeout_seconds", "kafka_partitions",
            "load_batch_rows", "load_batch_seconds", "stats_interval_seconds", "sim_rate", "quote_stale_seconds",
            "liquidity_horizon_seconds", "ingest_batch_rows", "ingest_batch_seconds", "mcp_max_rows",
            "mcp_default_rows", "mcp_query_timeout_ms", "mcp_max_connections", "mcp_keep_alive_seconds",
            "mcp_header_timeout_seconds", "mcp_body_timeout_seconds", "mcp_worker_threads", "mcp_switch_interval_ms",
            "mcp_chart_workers", "mcp_stream_idle_seconds", "bar_seconds", "transform_interval_seconds",
            "signal_momentum_z", "lm_alpha", "signal_vpin_cdf_hold", "vpin_buckets_per_day", "vpin_window"]


@pytest.mark.parametrize("name", ZERO_IS_OFF)
def test_zero_is_off_and_negative_refused(name: str, clean: Path) -> None:
    assert getattr(_make(**{name: 0}), name) == 0
    with pytest.raises(ValidationError, match=name):
        _make(**{name: -1})


@pytest.mark.parametrize("name", POSITIVE)
def test_zero_refused_where_it_means_nothing(name: str, clean: Path) -> None:
    with pytest.raises(ValidationError, match=name):
        _make(**{name: 0})


@pytest.mark.parametrize(("name", "top"), [("lm_alpha", 1), ("signal_vpin_cdf_hold", 1.0000001),
                                           ("sim_history_days", 30.5), ("bar_seconds", 3601),
                                           ("duckdb_threads", 257), ("mcp_kept_bars", 100_001)])
def test_upper_bounds(name: str, top: float, clean: Path) -> None:
    with pytest.raises(ValidationError, match=name):
        _make(**{name: top})


def test_environment_names_and_empty_values(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCP_PORT", "9001")
    monkeypatch.setenv("mcp_max_rows", "7")  # names are case-insensitive
    monkeypatch.setenv("DUCKDB_THREADS", "")  # KEY= means the default
    s = Settings()
    assert (s.mcp_port, s.mcp_max_rows, s.duckdb_threads) == (9001, 7, int(_env_example()["DUCKDB_THREADS"]))
    monkeypatch.setenv("MCP_PORT", "eighty")
    with pytest.raises(ValidationError, match="mcp_port"):
        Settings()


def test_dot_env_is_read_and_the_environment_wins(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean / ".env").write_text("MCP_PORT=9100\nSIM_SEED=11\n", encoding="utf-8")
    monkeypatch.setenv("SIM_SEED", "12")
    s = load_settings()
    assert (s.mcp_port, s.sim_seed) == (9100, 12)
    assert load_settings(mcp_port=9200, sim_seed=13).mcp_port == 9200  # keyword overrides win over both
    assert load_settings(sim_seed=13).sim_seed == 13
    assert isinstance(load_settings(), Settings)


def test_settings_are_frozen(clean: Path) -> None:
    s = _make()
    with pytest.raises(ValidationError):
        s.mcp_port = 1  # type: ignore[misc]


def test_secrets_are_masked_and_empty_is_unset(clean: Path) -> None:
    s = _make(polygon_api_key="pk-123", mcp_auth_token="tok-456", vertica_pass="pw-789")
    shown = repr(s) + str(s)
    for secret in ("pk-123", "tok-456", "pw-789"):
        assert secret not in shown
    assert s.polygon_api_key.get_secret_value() == "pk-123"  # type: ignore[union-attr]
    blank = _make(polygon_api_key="", mcp_auth_token="")
    assert blank.polygon_api_key is None and blank.mcp_auth_token is None


@pytest.mark.parametrize("size", ["512MB", "1.5GiB", "2 MiB", "100B", "3TB", "64KiB"])
def test_memory_sizes_accepted(size: str, clean: Path) -> None:
    assert _make(duckdb_memory_limit=size).duckdb_memory_limit == size
    assert _make(load_duckdb_memory_limit=size).load_duckdb_memory_limit == size


@pytest.mark.parametrize("size", ["512", "MB", "-1MB", "1.MB", "5PB", "512 mb", "1e3MB"])
def test_memory_sizes_refused(size: str, clean: Path) -> None:
    with pytest.raises(ValidationError, match="duckdb_memory_limit"):
        _make(duckdb_memory_limit=size)


@pytest.mark.parametrize(("size", "expected"), [
    ("512MB", 512e6), ("1.5GB", 1.5e9), ("2 MiB", 2 * 1024**2), ("100B", 100.0), ("3TB", 3e12), ("64KiB", 65536.0),
    ("1KB", 1000.0), ("1GiB", 1024.0**3), ("2TiB", 2 * 1024.0**4), ("0.5 KB", 500.0),
])
def test_size_bytes(size: str, expected: float) -> None:
    assert settings_module._size_bytes(size) == expected


@pytest.mark.parametrize(("duckdb_limit", "load_limit", "expected"), [
    (None, "256MB", "256MB"),               # unset: the loader's own cap
    ("512MB", "256MB", "256MB"),            # the lower of the two
    ("100MB", "256MB", "100MB"),
    ("200MiB", "256MB", "200MiB"),          # 209.7 MB: lower across units
    ("250MiB", "256MB", "256MB"),           # 262.1 MB: higher across units
    ("256000KB", "256MB", "256MB"),         # equal: the loader's setting
    ("1GB", "2GiB", "1GB"),
])
def test_loader_memory_limit(duckdb_limit: str | None, load_limit: str, expected: str, clean: Path) -> None:
    s = _make(duckdb_memory_limit=duckdb_limit, load_duckdb_memory_limit=load_limit)
    assert s.loader_memory_limit() == expected
    loader = s.for_loader()
    assert loader.duckdb_memory_limit == expected
    assert loader.load_duckdb_memory_limit == load_limit
    assert loader.model_dump(exclude={"duckdb_memory_limit"}) == s.model_dump(exclude={"duckdb_memory_limit"})
    assert s.duckdb_memory_limit == duckdb_limit  # the original is unchanged


def test_spool_path(clean: Path) -> None:
    # README: default stream-<POLYGON_MARKET>.spool.jsonl beside DUCKDB_PATH
    assert _make(duckdb_path="d/x.duckdb").spool_path() == Path("d/stream-stocks.spool.jsonl")
    assert _make(duckdb_path="/a/b.duckdb", polygon_market="crypto").spool_path() == Path("/a/stream-crypto.spool.jsonl")
    assert _make(stream_spool_path="/s/own.jsonl").spool_path() == Path("/s/own.jsonl")


def test_session_for(clean: Path) -> None:
    s = _make(session_stocks="09:00-17:00 Europe/London", session_crypto="00:00-24:00 Asia/Tokyo")
    assert s.session_for("stocks") == "09:00-17:00 Europe/London"
    assert s.session_for("crypto") == "00:00-24:00 Asia/Tokyo"
    assert s.session_for("fx") == "09:00-17:00 Europe/London"
    d = _make()
    assert d.session_for("stocks") == _env_example()["SESSION_STOCKS"]
    assert d.session_for("crypto") == _env_example()["SESSION_CRYPTO"]


def test_archive_root(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # README: unset, beside the DuckDB file, data/microstructure.archive
    assert _make().archive_root() == clean / "data" / "microstructure.archive"
    assert _make(duckdb_path="/x/y/z.duckdb").archive_root() == Path("/x/y/z.archive")
    assert _make(archive_path="/arch").archive_root() == Path("/arch")
    assert _make(archive_path="rel/a").archive_root() == clean / "rel" / "a"
    monkeypatch.setenv("HOME", str(clean / "home"))
    assert _make(archive_path="~/arch").archive_root() == clean / "home" / "arch"
    assert _make(duckdb_path="~/f.duckdb").archive_root() == clean / "home" / "f.archive"


@pytest.mark.parametrize("bad", ["/a'b", "/a\\b", "/a*b", "/a?b", "/a[b"])
def test_archive_path_refuses_quotes_backslashes_and_globs(bad: str, clean: Path) -> None:
    with pytest.raises(ValidationError, match="ARCHIVE"):
        _make(archive_path=bad)


@pytest.mark.parametrize(("signals", "trades", "ok"), [
    (5, 5, True), (6, 5, True), (0, 5, True), (5, 0, True), (0, 0, True), (4, 5, False), (1, 30, False),
])
def test_signals_kept_at_least_as_long_as_trades(signals: int, trades: int, ok: bool, clean: Path) -> None:
    if ok:
        s = _make(retain_signals_days=signals, retain_trades_days=trades)
        assert (s.retain_signals_days, s.retain_trades_days) == (signals, trades)
        return
    with pytest.raises(ValidationError) as info:
        _make(retain_signals_days=signals, retain_trades_days=trades)
    assert (f"RETAIN_SIGNALS_DAYS={signals} is shorter than RETAIN_TRADES_DAYS={trades}: signals stay at least "
            "as long as trades") in str(info.value)


@pytest.mark.parametrize(("feed", "ok"), [("", True), ("127.0.0.1:8765", True), ("sim.local:1", True),
                                          ("[::1]:8765", True), ("127.0.0.1", False), ("host:123456", False),
                                          ("ws://h:1", False)])
def test_sim_feed(feed: str, ok: bool, clean: Path) -> None:
    if ok:
        assert _make(sim_feed=feed).sim_feed == feed
    else:
        with pytest.raises(ValidationError, match="sim_feed"):
            _make(sim_feed=feed)
