"""``daily_metrics`` on a real DuckDB file: the rows the transform writes for final days equal the metrics computed
from the definitions (a plain Python reference over the stored bars and the trades, not the view), the view and
``get_symbol_metrics`` read them for final days and compute the open day, a recompute writes them again, and a day
whose trades were archived keeps its metrics."""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from conftest import trades_from_parts
from server.tools.market import symbol_metrics
from sql.conditions import STOCK_TRADE_CONDITIONS
from sql.settings import Settings
from udx.transform import run_transform

pytestmark = pytest.mark.duckdb
DuckDBStorage = pytest.importorskip("sql.duckdb_backend").DuckDBStorage
archive_module = pytest.importorskip("sql.archive")

NS = 10**9
DAY = 86_400 * NS
START = int(dt.datetime(2024, 3, 11, tzinfo=dt.UTC).timestamp()) * NS  # Monday
DAYS = 5
#: conditions strings drawn for stock prints: regular, odd lot (volume only), sweep, "bunched sold" (high/low and
#: volume, not the last sale), "official open" (nothing)
CONDITIONS = [None, None, None, "37", "14", "5", "16", "14,37"]
COLUMNS = ["symbol", "session_date", "bar_seconds", "trades", "volume", "vwap", "open", "high", "low", "close",
           "n_returns", "realized_variance", "bipower_variation", "bns_stat", "jump_count", "mean_vpin", "max_vpin",
           "last_signal", "last_signal_reason", "last_bar_end_ns"]
THETA = math.pi**2 / 4 + math.pi - 5
MU43 = 2 ** (2 / 3) * math.gamma(7 / 6) / math.gamma(1 / 2)  # E|Z|^(4/3)


def _settings(path: Path, **more: object) -> Settings:
    values: dict[str, object] = {"duckdb_path": path, "bar_seconds": 60, "lm_window": 20,
                                 "transform_lateness_seconds": 2.0, **more}
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def trades() -> pa.Table:
    rng = np.random.default_rng(1418)
    parts = []
    for market, symbol, n in (("crypto", "X:ETHUSD", 9_000), ("stocks", "AAPL", 7_000), ("stocks", "IBM", 900)):
        ts = np.sort(rng.integers(START, START + DAYS * DAY, n))
        parts.append((market, symbol, ts, 100 * np.exp(np.cumsum(rng.normal(0, 3e-4, n))),
                      rng.integers(1, 300, n).astype(float)))
    table = trades_from_parts(parts)
    stocks = np.asarray(table.column("market").to_pylist()) == "stocks"
    drawn = rng.choice(len(CONDITIONS), table.num_rows)
    conditions = [CONDITIONS[k] if is_stock else None for k, is_stock in zip(drawn, stocks)]
    return table.set_column(table.schema.get_field_index("conditions"), "conditions", pa.array(conditions, pa.string()))


def _written(path: Path, trades: pa.Table, **more: object) -> DuckDBStorage:
    settings = _settings(path, **more)
    storage = DuckDBStorage.open(settings)
    storage.apply_schema()
    storage.append_trades(trades)
    run_transform(storage, settings, now_ns=1)
    return storage


def _flags(conditions: str | None, market: str) -> tuple[bool, bool, bool]:
    """(sets_price, sets_high_low, counts_volume) of one print from Polygon's rules (sql/conditions.py's table)."""
    if market != "stocks" or not conditions:
        return True, True, True
    rules = [STOCK_TRADE_CONDITIONS[int(code)] for code in conditions.split(",")]
    return (all(r.updates_last for r in rules), all(r.updates_high_low for r in rules),
            all(r.updates_volume for r in rules))


def _day(ns: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=ns // DAY)


def _reference(trades: pa.Table, bars: list[dict]) -> dict[tuple[str, dt.date], dict[str, object]]:
    """Every metric of every (symbol, day) with bars, from the definitions (views/030_symbol_metrics.sql's header,
    spec/signals.md §3): bar statistics over the day's bars in time order, prices from the eligible prints."""
    out: dict[tuple[str, dt.date], dict[str, object]] = {}
    by_day: dict[tuple[str, dt.date], list[dict]] = defaultdict(list)
    for bar in sorted(bars, key=lambda b: (b["symbol"], b["bar_end_ns"])):
        by_day[(bar["symbol"], _day(bar["bar_end_ns"]))].append(bar)
    prints: dict[tuple[str, dt.date], list[dict]] = defaultdict(list)
    for t in trades.to_pylist():
        prints[(t["symbol"], _day(t["ts_ns"]))].append(t)
    for key, day_bars in by_day.items():
        r = [b["log_return"] for b in day_bars]
        pairs = [abs(a) * abs(b) for a, b in zip(r[1:], r[:-1]) if a is not None and b is not None]
        triples = [abs(a * b * c) ** (4 / 3) for a, b, c in zip(r[2:], r[1:-1], r[:-2]) if None not in (a, b, c)]
        m = sum(x is not None for x in r)
        rv = sum(x * x for x in r if x is not None)
        bv = math.pi / 2 * sum(pairs) if pairs else None
        tp = MU43**-3 * sum(triples) if triples else None
        bns = None
        if m >= 3 and rv > 0 and bv is not None and bv > 0:
            bns = ((rv - bv) / rv) / math.sqrt(THETA / m * max(1.0, m * m / (m - 2.0) * (tp or 0.0) / (bv * bv)))
        vpins = [b["vpin"] for b in day_bars if b["vpin"] is not None]
        ps = sorted(prints.get(key, []), key=lambda t: t["ts_ns"])
        flags = [_flags(t["conditions"], t["market"]) for t in ps]
        priced = [t["price"] for t, f in zip(ps, flags) if f[0]]
        ranged = [t["price"] for t, f in zip(ps, flags) if f[1]]
        counted = [t for t, f in zip(ps, flags) if f[2]]
        volume = sum(t["size"] for t in counted)
        out[key] = {
            "trades": len(counted) if ps else None, "volume": volume if counted else None,
            "vwap": sum(t["price"] * t["size"] for t in counted) / volume if volume else None,
            "open": priced[0] if priced else None, "high": max(ranged) if ranged else None,
            "low": min(ranged) if ranged else None, "close": priced[-1] if priced else None,
            "n_returns": m, "realized_variance": rv if m else None, "bipower_variation": bv, "bns_stat": bns,
            "jump_count": sum(b["jump_detected"] for b in day_bars),
            "mean_vpin": sum(vpins) / len(vpins) if vpins else None, "max_vpin": max(vpins) if vpins else None,
            "last_signal": day_bars[-1]["trading_signal"], "last_signal_reason": day_bars[-1]["signal_reason"],
            "last_bar_end_ns": day_bars[-1]["bar_end_ns"],
        }
    return out


def _bars(storage: DuckDBStorage) -> list[dict]:
    rows = storage.fetch_all("SELECT symbol, bar_end_ns, log_return, jump_detected, vpin, trading_signal, "
                             "signal_reason FROM trading_signals")
    names = ["symbol", "bar_end_ns", "log_return", "jump_detected", "vpin", "trading_signal", "signal_reason"]
    return [dict(zip(names, row)) for row in rows]


def _as_dicts(rows: list[tuple]) -> dict[tuple[str, dt.date], dict[str, object]]:
    return {(row[0], row[1]): dict(zip(COLUMNS[3:], row[3:])) for row in rows}


def _assert_equal(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for key, row in got.items():
        for name, value in row.items():
            expected = want[key][name]
            if isinstance(expected, float) and value is not None:
                assert value == pytest.approx(expected, rel=1e-10, abs=1e-300), (key, name)
            else:
                assert value == expected, (key, name)


def test_the_rows_written_for_final_days_equal_the_metrics_from_the_definitions(tmp_path: Path,
                                                                                 trades: pa.Table) -> None:
    storage = _written(tmp_path / "x.duckdb", trades)
    try:
        stored = _as_dicts(storage.fetch_all(f"SELECT {', '.join(COLUMNS)} FROM daily_metrics"))
        reference = _reference(trades, _bars(storage))
        (newest,) = storage.fetch_all("SELECT max(ts_ns) FROM market_data")[0]
        last_final = _day(newest - 2 * NS) - dt.timedelta(days=1)
        assert {day for _, day in stored} == {day for _, day in reference if day <= last_final}  # final days only
        assert len({symbol for symbol, _ in stored}) == 3
        _assert_equal(stored, {key: reference[key] for key in stored})
        view = _as_dicts(storage.fetch_all(f"SELECT {', '.join(COLUMNS)} FROM symbol_metrics"))
        _assert_equal(view, reference)  # final days from the table, the open day computed
    finally:
        storage.close()


def test_get_symbol_metrics_answers_final_and_open_days_and_pages(tmp_path: Path, trades: pa.Table) -> None:
    storage = _written(tmp_path / "x.duckdb", trades)
    try:
        reference = _reference(trades, _bars(storage))
        rows, cursor = [], None
        while True:
            page = symbol_metrics(storage, limit=4, bar_seconds=60, cursor=cursor)
            rows += [r.model_dump() for r in page.rows]
            cursor = page.next_cursor
            if cursor is None:
                break
        got = {(r["symbol"], dt.date.fromisoformat(r["session_date"])): {k: r[k] for k in COLUMNS[3:] if k in r}
               for r in rows}
        _assert_equal(got, {key: {k: v for k, v in value.items() if k in next(iter(got.values()))}
                            for key, value in reference.items()})
    finally:
        storage.close()


def test_a_day_whose_trades_were_archived_keeps_its_metrics(tmp_path: Path, trades: pa.Table) -> None:
    storage = _written(tmp_path / "x.duckdb", trades, retain_trades_days=2)
    try:
        reference = _reference(trades, _bars(storage))
        report = archive_module.archive(storage, _settings(tmp_path / "x.duckdb", retain_trades_days=2))
        assert report.partitions > 0
        (live_from,) = storage.fetch_all("SELECT min(ts_ns) FROM market_data")[0]
        assert _day(live_from) > _day(START)  # Monday's trades left the live file
        view = _as_dicts(storage.fetch_all(f"SELECT {', '.join(COLUMNS)} FROM symbol_metrics"))
        _assert_equal(view, reference)
        page = symbol_metrics(storage, limit=100, bar_seconds=60, symbol="AAPL")
        monday = [r for r in page.rows if r.session_date == _day(START).isoformat()]
        assert monday and monday[0].trades == reference[("AAPL", _day(START))]["trades"] and monday[0].trades
    finally:
        storage.close()


def test_a_recompute_writes_the_days_again(tmp_path: Path, trades: pa.Table) -> None:
    storage = _written(tmp_path / "x.duckdb", trades)
    try:
        storage.execute_write("UPDATE daily_metrics SET jump_count = -1")
        storage.execute_write("UPDATE trading_signals SET vpin = 0.5")  # what other definitions would have made
        from udx.recompute import prepare_recompute
        settings = _settings(tmp_path / "x.duckdb")
        prepare_recompute(storage, settings)
        run_transform(storage, settings, now_ns=1)
        stored = _as_dicts(storage.fetch_all(f"SELECT {', '.join(COLUMNS)} FROM daily_metrics"))
        assert stored and all(row["jump_count"] >= 0 for row in stored.values())
        _assert_equal(stored, {key: value for key, value in _reference(trades, _bars(storage)).items()
                               if key in stored})
    finally:
        storage.close()


def test_trades_and_bars_of_a_day_without_its_metrics_wait_and_leave_once_written(tmp_path: Path,
                                                                                   trades: pa.Table) -> None:
    path = tmp_path / "x.duckdb"
    storage = _written(path, trades)
    try:
        before = _as_dicts(storage.fetch_all(f"SELECT {', '.join(COLUMNS)} FROM daily_metrics"))
        storage.execute_write("DELETE FROM daily_metrics WHERE session_date = $d", {"d": _day(START)})
        storage._metrics_final_before.clear()  # noqa: SLF001 - as a process that has not written them yet
        late = _settings(path, retain_trades_days=2, retain_signals_days=2, transform_lateness_seconds=9 * 86_400.0)
        report = archive_module.archive(storage, late)  # its watermark makes no day final: Monday is not written
        monday = [w for w in report.waiting if f" {_day(START)} " in w]
        assert {w.split()[0] for w in monday} == {"trades", "signals"} and len(monday) == 6
        assert storage.fetch_all("SELECT count(*) FROM market_data WHERE ts_ns < $t", {"t": START + DAY})[0][0] > 0
        report = archive_module.archive(storage, _settings(path, retain_trades_days=2, retain_signals_days=2))
        assert not report.waiting
        after = _as_dicts(storage.fetch_all(f"SELECT {', '.join(COLUMNS)} FROM daily_metrics"))
        _assert_equal(after, before)  # written again, from the live trades, before they left
    finally:
        storage.close()


def test_retain_metrics_days_deletes_older_rows(tmp_path: Path, trades: pa.Table) -> None:
    path = tmp_path / "x.duckdb"
    storage = _written(path, trades)
    try:
        days = [d for (d,) in storage.fetch_all("SELECT DISTINCT session_date FROM daily_metrics ORDER BY 1")]
        report = archive_module.archive(storage, _settings(path, retain_metrics_days=2))
        assert report.metrics_deleted > 0 and "daily_metrics" in report.summary()
        assert [d for (d,) in storage.fetch_all("SELECT DISTINCT session_date FROM daily_metrics ORDER BY 1")] \
            == days[-2:]
    finally:
        storage.close()


@pytest.mark.parametrize("layout", ["duckdb_10e73b1.sql"])  # the layout with the views
def test_a_reader_of_a_file_no_writer_migrated_yet_still_answers_get_symbol_metrics(
        tmp_path: Path, trades: pa.Table, layout: str, caplog: pytest.LogCaptureFixture) -> None:
    import duckdb

    path = tmp_path / "old.duckdb"
    text = (Path(__file__).resolve().parents[1] / "data" / "layouts" / layout).read_text(encoding="utf-8")
    with duckdb.connect(str(path)) as con:  # an older layout: no daily_metrics, its own symbol_metrics view
        con.execute(text)
    with caplog.at_level("WARNING"):
        storage = DuckDBStorage.open(_settings(path), read_only=True)
    try:
        page = symbol_metrics(storage, limit=10, bar_seconds=60)
        assert page.count == 0 and not page.truncated
    finally:
        storage.close()
    assert any("not migrated to" in r.getMessage() and "daily_metrics" in r.getMessage() for r in caplog.records)


def test_prints_the_transform_drops_leave_the_daily_metrics_unchanged(tmp_path: Path, trades: pa.Table) -> None:
    """A stored print with a non-finite or non-positive price, or a negative or non-finite size (only a direct write
    to ``market_data`` can store one: ingest sends them to the dead-letter topic), enters no statistic of the
    transform, so it enters no daily figure either: the rows equal the definitions over the valid prints."""
    aapl = trades.filter(pa.compute.equal(trades.column("symbol"), "AAPL"))
    ts = aapl.column("ts_ns").to_numpy()[[10, 500, 2000, 3500, 5000, 6900]] + 1
    bad = trades_from_parts([("stocks", "AAPL", ts, np.array([np.nan, -5.0, 0.0, np.inf, 101.0, 99.0]),
                              np.array([100.0, 100.0, 100.0, 100.0, np.nan, -1.0]))])
    ids = pa.array([f"bad{k}" for k in range(bad.num_rows)], pa.string())
    bad = bad.set_column(bad.schema.get_field_index("trade_id"), "trade_id", ids).cast(trades.schema)
    storage = _written(tmp_path / "x.duckdb", pa.concat_tables([trades, bad]))
    try:
        (stored_bad,) = storage.fetch_all("SELECT count(*) FROM market_data WHERE trade_id LIKE 'bad%'")[0]
        assert stored_bad == bad.num_rows
        reference = _reference(trades, _bars(storage))
        stored = _as_dicts(storage.fetch_all(f"SELECT {', '.join(COLUMNS)} FROM daily_metrics"))
        assert stored
        _assert_equal(stored, {key: reference[key] for key in stored})
        view = _as_dicts(storage.fetch_all(f"SELECT {', '.join(COLUMNS)} FROM symbol_metrics"))
        _assert_equal(view, reference)
    finally:
        storage.close()
