"""``quotes_v1`` flat files: told from ``trades_v1`` by the header, stored in ``quotes`` (sizes in shares) straight
or through a real Kafka broker, and a file of neither kind is one clear line."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import orjson
import pyarrow as pa
import pytest

from ingest.normalize import normalize_frame
from ingest.quotes_flatfile import (
    QUOTE_COLUMNS,
    SHARES_FROM_NS,
    UnknownFlatFile,
    flat_file_kind,
    quote_event,
    size_multiplier,
)
from ingest.replay import COLUMNS as TRADE_COLUMNS
from ingest.replay import replay_file, replay_paths
from sql.duckdb_backend import DuckDBStorage
from sql.settings import Settings
from tests.ingest.quote_files import write_quotes_v1
from tests.ingest.test_kafka_pipeline import kafka_settings, replay_through_kafka

ROOT = Path(__file__).resolve().parents[2]
BEFORE = SHARES_FROM_NS - 86_400 * 10**9  # 2025-11-02: round lots
AFTER = SHARES_FROM_NS + 14 * 3600 * 10**9  # 2025-11-03 14:00 UTC: shares
QUOTE_COLUMNS_STORED = ("market, symbol, ts_ns, bid_price, bid_size, ask_price, ask_size, bid_exchange, "
                        "ask_exchange, conditions, sequence, tape, source")


def rows_at(t0: int, n: int) -> list[dict]:
    return [{"sip_timestamp": t0 + 1_234_567 * k + 89, "participant_timestamp": t0 + 1_234_567 * k,
             "sequence_number": 10 + k, "bid_price": round(170.0 + 0.01 * k, 2),
             "ask_price": round(170.02 + 0.01 * k, 2), "bid_size": 1 + k % 4, "ask_size": 2 + k % 3,
             "conditions": "1" if k % 2 else ""} for k in range(n)]


def stored(db: Path) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(f"SELECT {QUOTE_COLUMNS_STORED} FROM quotes ORDER BY symbol, ts_ns, sequence").fetchall()


def replay_straight(db: Path, flat: Path, **overrides: object):
    settings = Settings(duckdb_path=db, **overrides)  # type: ignore[arg-type]
    storage = DuckDBStorage.open(settings)
    try:
        storage.apply_schema()
        return replay_file(flat, storage=storage, progress=False, quote_size_unit=settings.quote_size_unit)
    finally:
        storage.close()


# --- telling the kinds apart ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["q.csv", "q.csv.gz"])
def test_the_header_tells_a_quotes_file_from_a_trades_file(tmp_path, name):
    quotes, trades = tmp_path / name, tmp_path / ("t" + name)
    write_quotes_v1(quotes, rows_at(AFTER, 2))
    header = ",".join(c for c in TRADE_COLUMNS if c != "correction" or not name.endswith(".gz")) + "\n"
    with (gzip.open(trades, "wt") if name.endswith(".gz") else trades.open("w")) as fh:
        fh.write(header)  # with and without the optional correction column
    assert flat_file_kind(quotes) == "quotes"
    assert flat_file_kind(trades) == "trades"


@pytest.mark.parametrize("content", [b"date,open,high,low,close\n2024-01-02,1,2,0.5,1.5\n", b"", b"\x1f\x8b\x08garbage"])
def test_a_file_of_neither_kind_is_one_clear_line(tmp_path, content):
    bad = tmp_path / ("bars.csv.gz" if content.startswith(b"\x1f\x8b") else "bars.csv")
    bad.write_bytes(content)
    with pytest.raises(UnknownFlatFile) as info:
        flat_file_kind(bad)
    message = str(info.value)
    assert "\n" not in message and str(bad) in message
    assert "not a Polygon trades_v1 or quotes_v1 file" in message or "cannot read a CSV header" in message


def test_replay_cli_refuses_an_unknown_file_with_one_line_before_writing_anything(tmp_path):
    good, bad = tmp_path / "2025-11-04.csv", tmp_path / "bars.csv"
    write_quotes_v1(good, rows_at(AFTER, 3))
    bad.write_text("date,open,high,low,close\n2024-01-02,1,2,0.5,1.5\n")
    db = tmp_path / "cli.duckdb"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "DUCKDB_"))}
    env.update({"DUCKDB_PATH": str(db), "PYTHONPATH": str(ROOT)})
    done = subprocess.run([sys.executable, "-m", "server.cli", "replay", "--quiet", str(good), str(bad)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "bars.csv" in lines[0] and "not a Polygon trades_v1 or quotes_v1 file" in lines[0]
    assert "Traceback" not in done.stderr
    assert not db.exists()  # checked before anything was opened or written


# --- straight into the database -------------------------------------------------------------------------------


@pytest.mark.duckdb
@pytest.mark.parametrize("name", ["2025-11-04.csv", "2025-11-04.csv.gz"])
def test_a_quotes_file_is_stored_in_quotes_with_nanosecond_times(tmp_path, name):
    flat = tmp_path / name
    write_quotes_v1(flat, rows_at(AFTER, 6))
    summary = replay_straight(tmp_path / "q.duckdb", flat)
    assert (summary.rows, summary.added, summary.skipped) == (6, 6, 0)
    rows = stored(tmp_path / "q.duckdb")
    assert [r[2] for r in rows] == [AFTER + 1_234_567 * k + 89 for k in range(6)]
    first = rows[0]
    assert first == ("stocks", "AAPL", AFTER + 89, 170.0, 1.0, 170.02, 2.0, 12, 11, None, 10, 3, "replay")
    assert rows[1][9] == "1"


@pytest.mark.duckdb
@pytest.mark.parametrize(("unit", "before_mult", "after_mult"),
                         [("auto", 100.0, 1.0), ("shares", 1.0, 1.0), ("round_lots", 100.0, 100.0)])
def test_sizes_are_stored_in_shares_whichever_unit_the_file_uses(tmp_path, unit, before_mult, after_mult):
    flat = tmp_path / "both.csv"
    before, after = rows_at(BEFORE, 3), rows_at(AFTER, 3)
    write_quotes_v1(flat, before + after)
    replay_straight(tmp_path / "q.duckdb", flat, quote_size_unit=unit)
    rows = stored(tmp_path / "q.duckdb")
    expected = [(r["bid_size"] * before_mult, r["ask_size"] * before_mult) for r in before]
    expected += [(r["bid_size"] * after_mult, r["ask_size"] * after_mult) for r in after]
    assert [(r[4], r[6]) for r in rows] == expected


def test_the_auto_unit_switches_at_midnight_new_york_on_2025_11_03():
    sip = pa.array([SHARES_FROM_NS - 1, SHARES_FROM_NS, None], pa.int64())
    assert size_multiplier(sip, "auto").to_pylist() == [100.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="auto, shares or round_lots"):
        size_multiplier(sip, "lots")  # type: ignore[arg-type]


@pytest.mark.duckdb
def test_rows_that_are_not_quotes_are_skipped_and_counted(tmp_path):
    flat = tmp_path / "bad.csv"
    good = rows_at(AFTER, 2)
    bad = [{"ticker": "", "sip_timestamp": AFTER}, {"bid_price": -1.0, "sip_timestamp": AFTER},
           {"ask_size": -5, "sip_timestamp": AFTER}, {"sip_timestamp": 0}, {"sip_timestamp": ""}]
    write_quotes_v1(flat, good + bad)
    summary = replay_straight(tmp_path / "q.duckdb", flat)
    assert (summary.rows, summary.added, summary.skipped) == (7, 2, 5)
    assert len(stored(tmp_path / "q.duckdb")) == 2


@pytest.mark.duckdb
def test_a_one_sided_quote_with_zero_price_is_kept_as_read(tmp_path):
    flat = tmp_path / "one-sided.csv"
    write_quotes_v1(flat, [{"sip_timestamp": AFTER, "bid_price": 0, "bid_size": 0}])
    replay_straight(tmp_path / "q.duckdb", flat)
    (row,) = stored(tmp_path / "q.duckdb")
    assert (row[3], row[4], row[5]) == (0.0, 0.0, 170.02)


@pytest.mark.duckdb
def test_a_file_without_optional_columns_still_replays(tmp_path):
    flat = tmp_path / "narrow.csv"
    header = ("ticker", "bid_price", "bid_size", "ask_price", "ask_size", "sip_timestamp")
    write_quotes_v1(flat, rows_at(AFTER, 2), header=header)
    assert flat_file_kind(flat) == "quotes"
    replay_straight(tmp_path / "q.duckdb", flat)
    rows = stored(tmp_path / "q.duckdb")
    assert [(r[7], r[8], r[10], r[11]) for r in rows] == [(None, None, None, None)] * 2


# --- through Kafka ----------------------------------------------------------------------------------------------


def test_a_quote_event_made_from_a_file_keeps_its_nanoseconds_through_the_normalizer():
    event = quote_event("AAPL", 11, 170.02, 3.0, 12, 170.0, 2.0, "1,2", AFTER + 89, 7, 3, 100.0)
    assert event["t"] == (AFTER + 89) // 1_000_000 and event["bs"] == 200 and event["as"] == 300
    quotes = normalize_frame(orjson.dumps([event]), received_ns=1, source="replay").quotes.to_pylist()
    assert quotes[0]["ts_ns"] == AFTER + 89 and quotes[0]["conditions"] == "1,2"
    assert (quotes[0]["bid_size"], quotes[0]["ask_size"]) == (200.0, 300.0)


@pytest.mark.kafka
@pytest.mark.duckdb
def test_a_quotes_file_through_kafka_is_stored_as_straight(kafka_bootstrap, tmp_path):
    flat = tmp_path / "2025-11-02.csv.gz"
    write_quotes_v1(flat, rows_at(BEFORE, 500) + rows_at(AFTER, 500) + [{"ticker": "", "sip_timestamp": AFTER}])
    direct = tmp_path / "direct.duckdb"
    straight = replay_straight(direct, flat)
    assert (straight.added, straight.skipped) == (1000, 1)

    settings = kafka_settings(kafka_bootstrap, tmp_path / "via-kafka.duckdb")
    sent, failures, summary = replay_through_kafka(flat, settings)
    assert sent.sent == 1001 and failures == 0
    assert summary.quotes_added == 1000 and summary.trades_added == 0 and summary.dead_lettered == 1
    assert stored(settings.duckdb_path) == stored(direct)


@pytest.mark.duckdb
def test_replay_paths_routes_each_file_by_its_kind(tmp_path):
    quotes = tmp_path / "q.csv"
    write_quotes_v1(quotes, rows_at(AFTER, 4))
    trades = tmp_path / "t.csv"
    trades.write_text(",".join(TRADE_COLUMNS) + "\n"
                      "AAPL,,0,11,a1,1,170.01,5," + str(AFTER + 500) + ",100,3,0,0\n")
    settings = Settings(duckdb_path=tmp_path / "both.duckdb")
    summaries = replay_paths(settings, [quotes, trades], progress=False)
    assert [(s.rows, s.added) for s in summaries] == [(4, 4), (1, 1)]
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM quotes").fetchone() == (4,)
        assert con.execute("SELECT count(*) FROM market_data").fetchone() == (1,)


def test_quote_columns_match_polygon_flat_file_order():
    assert QUOTE_COLUMNS[0] == "ticker" and QUOTE_COLUMNS.index("sip_timestamp") == 11 and len(QUOTE_COLUMNS) == 14


def test_the_column_built_quote_events_equal_the_row_by_row_reference(tmp_path):
    from ingest.quotes_flatfile import _clean, _reference_values, quote_values, read_quotes_v1, size_multiplier

    rows = rows_at(BEFORE, 50) + rows_at(AFTER, 50) + [
        {"sip_timestamp": AFTER, "conditions": "1,12,400"},
        {"sip_timestamp": AFTER, "conditions": "x,1"},  # not integers: sent as text, dead-lettered later
        {"sip_timestamp": AFTER, "ticker": 'BR"K'},  # JSON must escape it
        {"sip_timestamp": AFTER, "ticker": ""},
        {"sip_timestamp": AFTER, "bid_exchange": ""},
        {"sip_timestamp": AFTER, "ask_price": "nan"},
        {"sip_timestamp": AFTER, "bid_size": 2.5, "ask_size": 1e-7, "ask_price": 1e16},
        {"sip_timestamp": -5},
        {"sip_timestamp": ""},
    ]
    flat = tmp_path / "mixed.csv"
    write_quotes_v1(flat, rows)
    (batch,) = list(read_quotes_v1(flat))
    assert _clean(batch).to_pylist().count(True) == 102  # the column path wrote them; the rest, the reference
    for unit in ("auto", "shares", "round_lots"):
        keys, values = quote_values(batch, unit)
        reference = _reference_values(batch, size_multiplier(batch["sip_timestamp"], unit).to_pylist())
        assert len(values) == len(reference) == batch.num_rows
        assert [orjson.loads(v) for v in values] == [orjson.loads(v) for v in reference]
        assert keys == [r.get("ticker", "AAPL") for r in rows]
