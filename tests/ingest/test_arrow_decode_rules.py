"""``ingest/arrow_decode.py``'s table building, on small batches with rows worked out by hand.

``test_arrow_decode.py`` compares the fast path with the reference decoder on many records; this file pins the
parts a comparison row by row can miss: records without a value or not bytes, a batch of several sources, the
null bitmaps of the string and optional columns past one byte of rows, the positions handed back, the column
types of ``TRADES_SCHEMA``. Plain Python under ``UDX_DISABLE_NUMBA=1``: the mutation group ``arrow-decode``
runs this file.
"""

from __future__ import annotations

import json

import pyarrow as pa

from ingest.arrow_decode import decode_trades
from sql.contract import TRADES_SCHEMA

MS = 1_000_000


def raw(event: dict) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def stock(k: int, **extra: object) -> dict:
    return {"ev": "T", "sym": f"S{k}", "x": k, "i": f"id{k}", "p": 10.0 + k, "s": k, "t": 1000 + k, **extra}


def crypto(k: int, **extra: object) -> dict:
    return {"ev": "XT", "pair": f"P{k}", "x": k, "i": f"c{k}", "p": 0.5 + k, "s": 0.25, "t": 2000 + k, **extra}


def expected_stock(k: int, received: int, source: str, **extra: object) -> dict:
    """The row of ``stock(k)`` by the module docstring (and ingest/normalize.py's): worked out by hand."""
    row = {"market": "stocks", "symbol": f"S{k}", "ts_ns": (1000 + k) * MS, "price": 10.0 + k, "size": float(k),
           "exchange": k, "trade_id": f"id{k}", "conditions": None, "tape": None, "sequence": None,
           "trf_id": None, "trf_ts_ns": None, "received_ns": received, "source": source, "correction": None}
    return {**row, **extra}


def expected_crypto(k: int, received: int, source: str) -> dict:
    return {"market": "crypto", "symbol": f"P{k}", "ts_ns": (2000 + k) * MS, "price": 0.5 + k, "size": 0.25,
            "exchange": k, "trade_id": f"c{k}", "conditions": None, "tape": None, "sequence": None, "trf_id": None,
            "trf_ts_ns": None, "received_ns": received, "source": source, "correction": None}


def test_one_record_and_one_source() -> None:
    decoded = decode_trades([raw(stock(3))], [77], ["ws"])
    assert decoded.rest == [] and decoded.trades.schema == TRADES_SCHEMA
    assert decoded.trades.to_pylist() == [expected_stock(3, 77, "ws")]


def test_records_without_a_value_are_handed_back_and_the_others_kept() -> None:
    values = [None, raw(stock(1)), None, raw(crypto(2)), None]
    decoded = decode_trades(values, [10, 11, 12, 13, 14], ["ws"] * 5)  # type: ignore[arg-type]
    assert decoded.rest == [0, 2, 4]
    assert decoded.trades.to_pylist() == [expected_stock(1, 11, "ws"), expected_crypto(2, 13, "ws")]
    decoded = decode_trades([None], [1], ["ws"])  # type: ignore[list-item]
    assert decoded.rest == [0] and decoded.trades.num_rows == 0 and decoded.trades.schema == TRADES_SCHEMA


def test_values_that_are_not_bytes_hand_the_whole_batch_back() -> None:
    values = [raw(stock(1)), raw(stock(2)).decode(), None, raw(stock(3))]
    decoded = decode_trades(values, [1, 2, 3, 4], ["ws"] * 4)  # type: ignore[arg-type]
    assert decoded.rest == [0, 1, 2, 3] and decoded.trades.num_rows == 0
    assert decoded.trades.schema == TRADES_SCHEMA
    decoded = decode_trades([raw(stock(1)).decode()], [1], ["ws"])  # type: ignore[list-item]
    assert decoded.rest == [0] and decoded.trades.num_rows == 0


def test_a_batch_of_rejects_only_is_an_empty_table_and_every_position() -> None:
    decoded = decode_trades([b"x", b"{}", raw({**stock(1), "p": 0})], [1, 2, 3], ["ws"] * 3)
    assert decoded.rest == [0, 1, 2] and decoded.trades.num_rows == 0 and decoded.trades.schema == TRADES_SCHEMA
    assert decode_trades([], [], []).rest == []


def test_sources_per_record_follow_their_rows() -> None:
    values = [raw(stock(1)), b"bad", raw(crypto(2)), raw(stock(3)), b"", raw(stock(4))]
    sources = ["ws", "sim", "replay", "sim", "ws", "ws"]
    received = [100, 101, 102, 103, 104, 105]
    decoded = decode_trades(values, received, sources)
    assert decoded.rest == [1, 4]
    assert decoded.trades.to_pylist() == [expected_stock(1, 100, "ws"), expected_crypto(2, 102, "replay"),
                                          expected_stock(3, 103, "sim"), expected_stock(4, 105, "ws")]
    # the first source repeated, but not everywhere
    decoded = decode_trades([raw(stock(1)), raw(stock(2)), raw(stock(3))], [1, 2, 3], ["ws", "ws", "sim"])
    assert decoded.trades.column("source").to_pylist() == ["ws", "ws", "sim"]
    decoded = decode_trades([raw(stock(1)), raw(stock(2))], [1, 2], ["sim", "ws"])
    assert decoded.trades.column("source").to_pylist() == ["sim", "ws"]
    decoded = decode_trades([b"x", raw(stock(2)), raw(stock(3))], [1, 2, 3], ["replay", "replay", "replay"])
    assert decoded.trades.column("source").to_pylist() == ["replay", "replay"]


def test_null_bitmaps_past_one_byte_of_rows() -> None:
    """Twenty rows: conditions, tape, sequence, trf_id, trf_ts_ns, correction present on a pattern of rows
    that is not periodic in 8, so a wrong bit order or a shifted mask shows."""
    pattern = [k % 3 == 0 or k in (7, 8, 17) for k in range(20)]
    events, want = [], []
    for k, on in enumerate(pattern):
        if on:
            extra_in = {"c": [k, 1], "z": k % 4, "q": -k, "trfi": k + 200, "trft": 500 + k, "t_ns": 10**18 + k,
                        "_corr": k - 5}
            extra_out = {"conditions": f"{k},1", "tape": k % 4, "sequence": -k, "trf_id": k + 200,
                         "trf_ts_ns": (500 + k) * MS, "ts_ns": 10**18 + k, "correction": k - 5}
        else:
            extra_in, extra_out = {"c": []}, {}
        events.append(raw(stock(k, **extra_in)))
        want.append(expected_stock(k, 5000 + k, "sim", **extra_out))
    decoded = decode_trades(events, [5000 + k for k in range(20)], ["sim"] * 20)
    assert decoded.rest == []
    got = decoded.trades.to_pylist()
    for k in range(20):
        assert got[k] == want[k], k
    for name in ("conditions", "tape", "sequence", "trf_id", "trf_ts_ns", "correction"):
        column = decoded.trades.column(name)
        assert column.null_count == pattern.count(False), name
    assert decoded.trades.column("symbol").null_count == 0 and decoded.trades.column("trade_id").null_count == 0


def test_columns_have_the_contract_types_and_every_row_present() -> None:
    values = [raw(stock(1, c=[5], z=2)), raw(crypto(2, c=[1, 2])), raw(stock(3, _corr=None, t_ns=7))]
    decoded = decode_trades(values, [1, 2, 3], ["ws"] * 3)
    table = decoded.trades
    assert table.schema == TRADES_SCHEMA
    for name in TRADES_SCHEMA.names:
        assert table.column(name).type == TRADES_SCHEMA.field(name).type, name
    assert table.column("market").to_pylist() == ["stocks", "crypto", "stocks"]
    assert table.column("conditions").to_pylist() == ["5", "1,2", None]
    assert table.column("tape").to_pylist() == [2, None, None]
    assert table.column("correction").to_pylist() == [None, None, None]
    assert table.column("ts_ns").to_pylist() == [1001 * MS, 2002 * MS, 7]
    assert isinstance(table, pa.Table) and table.num_rows == 3
