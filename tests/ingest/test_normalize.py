"""normalize() on recorded Polygon frames (tests/data/polygon_frames), including malformed ones."""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow as pa
import pytest

from ingest.normalize import FrameBatch, StatusEvent, normalize_frame, normalize_frames
from sql.contract import QUOTES_SCHEMA, TRADE_KEY, TRADES_SCHEMA

FRAMES = Path(__file__).resolve().parents[1] / "data" / "polygon_frames"
RECEIVED = 1_712_306_654_500_000_000


def frame(name: str) -> bytes:
    return (FRAMES / name).read_bytes()


def rows(table: pa.Table) -> list[dict]:
    return table.to_pylist()


def test_stock_trades_map_every_field():
    out = normalize_frame(frame("stocks_trades.json"), RECEIVED)
    assert out.trades.schema == TRADES_SCHEMA
    assert out.quotes.num_rows == 0 and out.rejects == [] and out.statuses == []
    msft, aapl, spy = rows(out.trades)
    assert msft == {
        "market": "stocks", "symbol": "MSFT", "ts_ns": 1536036818784_000_000, "price": 114.125, "size": 100.0,
        "exchange": 4, "trade_id": "12345", "conditions": "0,12", "tape": 3, "sequence": 3681328,
        "trf_id": None, "trf_ts_ns": None, "received_ns": RECEIVED, "source": "ws", "correction": None,
    }  # fmt: skip
    assert aapl["conditions"] == "12,37"
    assert (aapl["trf_id"], aapl["trf_ts_ns"]) == (202, 1712306654207_000_000)
    assert spy["conditions"] is None and spy["price"] == 540.0 and spy["tape"] == 2


def test_stock_quotes_map_every_field():
    out = normalize_frame(frame("stocks_quotes.json"), RECEIVED, source="sim")
    assert out.quotes.schema == QUOTES_SCHEMA
    msft, aapl = rows(out.quotes)
    assert msft == {
        "market": "stocks", "symbol": "MSFT", "ts_ns": 1536036818784_000_000, "bid_price": 114.125,
        "bid_size": 100.0, "ask_price": 114.128, "ask_size": 160.0, "bid_exchange": 4, "ask_exchange": 7,
        "conditions": "0", "sequence": 50385480, "tape": 3, "received_ns": RECEIVED, "source": "sim",
    }  # fmt: skip
    assert aapl["conditions"] is None


def test_crypto_trades_use_pair_and_fractional_sizes():
    out = normalize_frame(frame("crypto_trades.json"), RECEIVED)
    assert out.rejects == []
    first, *_ = rows(out.trades)
    assert first == {
        "market": "crypto", "symbol": "BTC-USD", "ts_ns": 1610462007425_000_000, "price": 33021.9,
        "size": 0.01616617, "exchange": 3, "trade_id": "14272084", "conditions": "2", "tape": None,
        "sequence": None, "trf_id": None, "trf_ts_ns": None, "received_ns": RECEIVED, "source": "ws",
        "correction": None,
    }  # fmt: skip
    assert out.trades.column("trade_id").to_pylist()[3] == "a81f"


def test_crypto_trades_without_id_get_distinct_deterministic_ids():
    out = normalize_frame(frame("crypto_trades.json"), RECEIVED)
    ids = out.trades.column("trade_id").to_pylist()
    assert ids[1] == "~33021.91x0.5" and ids[2] == "~33021.92x0.25"
    keys = {tuple(row[k] for k in TRADE_KEY) for row in rows(out.trades)}
    assert len(keys) == out.trades.num_rows  # same pair, exchange and millisecond: not collapsed
    again = normalize_frame(frame("crypto_trades.json"), RECEIVED + 1)
    assert again.trades.column("trade_id").to_pylist() == ids  # a re-delivery keeps its key


def test_crypto_quote_uses_x_for_both_sides():
    (quote,) = rows(normalize_frame(frame("crypto_quotes.json"), RECEIVED).quotes)
    assert quote["symbol"] == "BTC-USD" and quote["market"] == "crypto"
    assert (quote["bid_price"], quote["bid_size"], quote["ask_price"], quote["ask_size"]) == (
        33052.79, 0.48, 33073.19, 0.601)  # fmt: skip
    assert quote["bid_exchange"] == quote["ask_exchange"] == 1
    assert quote["sequence"] is None and quote["conditions"] is None


def test_multi_event_frame_keeps_order_and_splits_trades_from_quotes():
    out = normalize_frame(frame("mixed_stocks.json"), RECEIVED)
    assert out.trades.column("trade_id").to_pylist() == ["451", "452"]
    assert out.quotes.column("sequence").to_pylist() == [901, 903]
    assert out.trades.column("conditions").to_pylist() == [None, "37"]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("status_connected.json", [StatusEvent("connected", "Connected Successfully")]),
        ("status_auth_success.json", [StatusEvent("auth_success", "authenticated")]),
        ("status_auth_failed.json", [StatusEvent("auth_failed", "authentication failed")]),
        ("status_subscribed.json", [StatusEvent("success", "subscribed to: T.MSFT"),
                                    StatusEvent("success", "subscribed to: Q.MSFT")]),
        ("status_disconnects.json", [
            StatusEvent("max_connections", "Maximum number of connections exceeded."),
            StatusEvent("force_disconnect", "Forced disconnect."),
            StatusEvent("slow_consumer", "Slow consumer: the client fell behind.")]),
    ],
)  # fmt: skip
def test_status_frames_are_returned_apart_from_data(name, expected):
    out = normalize_frame(frame(name), RECEIVED)
    assert out.statuses == expected
    assert out.trades.num_rows == out.quotes.num_rows == 0 and out.rejects == []


def test_status_and_data_in_one_frame():
    out = normalize_frame(frame("status_then_trade.json"), RECEIVED)
    assert [s.status for s in out.statuses] == ["success"]
    assert out.trades.column("symbol").to_pylist() == ["TSLA"]


MALFORMED_REASONS = [
    "T: missing field 'sym'",
    "T: field 'p' must be a number, got str '114.1'",
    "T: non-positive price p=0.0",
    "T: non-positive price p=-5.5",
    "T: negative size s=-100.0",
    "T: field 't' must be an integer, got float 1536036818784.5",
    "T: missing field 'i'",
    "T: field 'x' must be an integer, got str '4'",
    "T: field 'c' must be a list of integers, got str '12'",
    "T: field 't' must be a positive Unix-ms timestamp, got -1",
    "T: field 'p' must be a number, got bool True",
    "T: field 'trft' must be an integer, got str 'soon'",
    "Q: negative price bp=-1.0",
    "Q: missing field 'as'",
    "XT: negative size s=-0.1",
    "XT: field 'pair' must be a non-empty string, got str ''",
    "XT: field 'i' must be a string or integer id, got list [1]",
    "XQ: missing field 'ap'",
    "unsupported event type ev='AM'",
    "event has no 'ev' field",
    "event is a JSON list, expected an object",
    "status event without a string 'status'",
]


def test_every_malformed_event_becomes_a_reject_with_its_reason():
    out = normalize_frame(frame("malformed_events.json"), RECEIVED)
    assert [r.reason for r in out.rejects] == MALFORMED_REASONS
    events = orjson.loads(frame("malformed_events.json"))
    assert [orjson.loads(r.raw) for r in out.rejects] == events[:-1]  # the raw event text, re-parsable
    assert out.trades.column("trade_id").to_pylist() == ["13"]  # the good event of the frame survives
    assert out.quotes.num_rows == 0


WS_TRADE = {"ev": "T", "sym": "MSFT", "x": 4, "i": "12345", "z": 3, "p": 114.125, "s": 100, "c": [0, 12],
            "t": 1536036818784, "q": 3681328}
REPLAYED = {**WS_TRADE, "t_ns": 1536036818784123456}


def corrections(*events: dict) -> tuple[list[int | None], list[str]]:
    batch = FrameBatch("replay")
    for event in events:
        batch.add_event(event, RECEIVED)
    out = batch.take()
    return out.trades.column("correction").to_pylist(), [r.reason for r in out.rejects]


def test_a_websocket_trade_has_no_correction():
    assert corrections(WS_TRADE, {**WS_TRADE, "t_ns": None}) == ([None, None], [])
    trades = normalize_frame(frame("stocks_trades.json"), RECEIVED).trades
    assert trades.num_rows == 3 and trades["correction"].null_count == 3


def test_a_replayed_trade_carries_its_correction_and_zero_when_the_key_is_left_out():
    events = [REPLAYED, {**REPLAYED, "_corr": 12}, {**REPLAYED, "_corr": None}, {**WS_TRADE, "_corr": 1},
              {**REPLAYED, "_corr": 2**31 - 1}, {**REPLAYED, "_corr": 0}]
    assert corrections(*events) == ([0, 12, None, 1, 2**31 - 1, 0], [])


def test_crypto_trades_ignore_the_correction_key():
    crypto = {"ev": "XT", "pair": "BTC-USD", "p": 1.5, "t": 1610462007425, "s": 0.5, "i": "1", "x": 1}
    assert corrections({**crypto, "_corr": "x"}, {**crypto, "t_ns": 5}) == ([None, None], [])


@pytest.mark.parametrize(("value", "reason"), [
    ("x", "T: field '_corr' must be an integer, got str 'x'"),
    (1.5, "T: field '_corr' must be an integer, got float 1.5"),
    (1.0, "T: field '_corr' must be an integer, got float 1.0"),
    (True, "T: field '_corr' must be an integer, got bool True"),
    ([1], "T: field '_corr' must be an integer, got list [1]"),
    (2**31, "T: field '_corr' is out of the 32-bit range, got 2147483648"),
    (-(2**31) - 1, "T: field '_corr' is out of the 32-bit range, got -2147483649"),
    (99999999999999999999, "T: field '_corr' is out of the 64-bit range, got 99999999999999999999"),
])
def test_a_malformed_correction_is_a_reject_with_its_reason(value, reason):
    assert corrections({**REPLAYED, "_corr": value}, REPLAYED) == ([0], [reason])


@pytest.mark.parametrize(
    ("name", "reason_start"),
    [
        ("malformed_truncated.json", "frame is not valid JSON"),
        ("malformed_object_frame.json", "frame is a JSON object, expected an array of events"),
        ("malformed_string_frame.json", "frame is a JSON str, expected an array of events"),
    ],
)
def test_malformed_frames_become_one_reject(name, reason_start):
    raw = frame(name)
    out = normalize_frame(raw, RECEIVED)
    (reject,) = out.rejects
    assert reject.reason.startswith(reason_start)
    assert reject.raw == raw.decode()
    assert out.trades.num_rows == 0


@pytest.mark.parametrize("raw", [b"", b"\xff\xfe", "[1, 2", b"null", b"[null]", b"[[]]", b"[{}]"])
def test_garbage_never_raises(raw):
    out = normalize_frame(raw, RECEIVED)
    assert len(out.rejects) >= 1 and out.trades.num_rows == 0


def test_str_and_bytes_frames_are_equivalent():
    raw = frame("mixed_stocks.json")
    assert normalize_frame(raw, RECEIVED).trades.equals(normalize_frame(raw.decode(), RECEIVED).trades)


def test_many_frames_become_one_table_per_kind():
    names = ["stocks_trades.json", "stocks_quotes.json", "crypto_trades.json", "malformed_events.json"]
    out = normalize_frames([(frame(n), RECEIVED + k) for k, n in enumerate(names)])
    assert out.trades.num_rows == 3 + 4 + 1 and out.quotes.num_rows == 2
    assert all(col.num_chunks == 1 for col in out.trades.columns)
    expected_received = [RECEIVED] * 3 + [RECEIVED + 2] * 4 + [RECEIVED + 3]
    assert out.trades.column("received_ns").to_pylist() == expected_received
    assert len(out.rejects) == len(MALFORMED_REASONS)


def test_frame_batch_take_starts_a_new_batch():
    batch = FrameBatch("sim")
    batch.add_frame(frame("mixed_stocks.json"), RECEIVED)
    assert (batch.n_trades, batch.n_quotes, batch.n_rows) == (2, 2, 4)
    first = batch.take()
    assert first.trades.column("source").to_pylist() == ["sim", "sim"]
    assert batch.n_rows == 0 and batch.take().trades.num_rows == 0


def test_empty_frame_and_empty_batch_have_the_schemas():
    out = normalize_frame(b"[]", RECEIVED)
    assert out.trades.schema == TRADES_SCHEMA and out.quotes.schema == QUOTES_SCHEMA
    assert out.trades.num_rows == 0 and out.rejects == []
