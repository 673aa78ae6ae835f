"""The compiled trade reader's rules, one record at a time (``ingest/trade_json.py``'s docstring).

Every case is one record value with what the module docstring says of it: *accepted* (then the row must be the
row the reference decoder, ``ingest.normalize.FrameBatch.add_event``, makes of it, floats compared by ``repr``)
or *handed back* (not accepted). The accepted cases are the edges of the strict subset the docstring promises
to read (32/64-bit bounds, 15 significant digits, exponents within ±22, the nesting depth, printable ASCII,
``null`` against absent ``_corr``); the handed-back ones are just past them, or what the reference rejects.
Small inputs, plain Python under ``UDX_DISABLE_NUMBA=1``: the mutation group ``trade-json`` runs this file.
"""

from __future__ import annotations

import json

import numpy as np
import orjson
import pytest

from ingest.arrow_decode import decode_trades
from ingest.normalize import FrameBatch
from ingest.trade_json import _FIELDS, MAX_DEPTH, SPAN_CONDITIONS, SPAN_ID, SPAN_SYMBOL, parse_trades

RECEIVED = 1_712_306_654_000_000_000
I32, I64 = 2**31 - 1, 2**63 - 1
MAX_MS = I64 // 1_000_000  # the largest millisecond timestamp whose nanoseconds fit 64 bits

STOCK = {"ev": "T", "sym": "MSFT", "x": 4, "i": "12345", "z": 3, "p": 114.125, "s": 100, "c": [0, 12],
         "t": 1536036818784, "q": 3681328}
CRYPTO = {"ev": "XT", "pair": "BTC-USD", "p": 33021.9, "t": 1610462007425, "s": 0.01616304, "c": [2],
          "i": "14272084", "x": 1}
REPLAYED = {"ev": "T", "sym": "AAPL", "x": 12, "i": "52983525034125", "z": 3, "p": 169.2, "s": 5, "c": [12, 37],
            "t": 1712306654208, "q": 1017, "t_ns": 1712306654208740096, "trfi": 202, "trft": 1712306654100,
            "trft_ns": 1712306654100002304}


def raw(event: dict) -> bytes:
    """Compact JSON of ``event``; integers of any size (orjson stops at 64 bits)."""
    return json.dumps(event, separators=(",", ":")).encode()


def without(event: dict, *keys: str) -> dict:
    return {k: v for k, v in event.items() if k not in keys}


def reference_row(value: bytes) -> dict | None:
    """The reference decoder's row of one record value, or ``None`` when it does not make one."""
    try:
        event = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    batch = FrameBatch("sim")
    batch.add_event(event, RECEIVED)
    out = batch.take()
    if out.rejects or out.statuses or out.quotes.num_rows or out.trades.num_rows != 1:
        return None
    return out.trades.to_pylist()[0]


def fast(values: list[bytes]) -> tuple[list[dict], list[int]]:
    decoded = decode_trades(values, [RECEIVED] * len(values), ["sim"] * len(values))
    return decoded.trades.to_pylist(), decoded.rest


def accepted(value: bytes) -> dict:
    """Assert the record is accepted, alone and between two others, with the reference's row; return it."""
    want = reference_row(value)
    assert want is not None, "the reference must accept an accepted record"
    rows, rest = fast([value])
    assert rest == [] and len(rows) == 1, value
    assert repr(rows[0]) == repr(want), value
    around, rest = fast([raw(CRYPTO), value, raw(STOCK)])
    assert rest == [] and repr(around[1]) == repr(want)
    return rows[0]


def handed_back(value: bytes) -> None:
    """Assert the record is handed back, alone and between two accepted ones (which keep their rows)."""
    rows, rest = fast([value])
    assert rest == [0] and rows == [], value
    around, rest = fast([raw(STOCK), value, raw(CRYPTO)])
    assert rest == [1] and len(around) == 2
    assert repr(around) == repr([reference_row(raw(STOCK)), reference_row(raw(CRYPTO))])


# --- accepted: the edges of the subset -----------------------------------------------------------------------

ACCEPTED = [
    raw(STOCK), raw(CRYPTO), raw(REPLAYED), raw({**REPLAYED, "_corr": 12}),
    raw(dict(reversed(list(STOCK.items())))), raw(dict(reversed(list(REPLAYED.items())))),
    # integers at the 32- and 64-bit bounds
    raw({**STOCK, "x": I32, "z": -(2**31), "trfi": I32}), raw({**STOCK, "x": -(2**31), "z": I32, "trfi": -(2**31)}),
    raw({**STOCK, "q": I64}), raw({**STOCK, "q": -I64}), raw({**STOCK, "q": 0}), raw({**STOCK, "q": -1}),
    raw({**REPLAYED, "t_ns": I64, "trft_ns": I64}), raw({**STOCK, "t": MAX_MS, "trft": MAX_MS}),
    raw({**STOCK, "t": 1, "trft": 1}), raw({**REPLAYED, "t_ns": 1, "trft_ns": 1}),
    raw({**REPLAYED, "_corr": I32}), raw({**REPLAYED, "_corr": -(2**31)}), raw({**STOCK, "_corr": 0}),
    raw({**CRYPTO, "t": MAX_MS, "x": I32}), raw({**CRYPTO, "x": -(2**31)}),
    # numbers: 15 significant digits, exponents ±22, every JSON form
    raw({**STOCK, "p": 123456789012345, "s": 999999999999999}), raw({**STOCK, "p": 1234567890.12345}),
    raw({**STOCK, "p": 0.000123456789012345}), raw({**STOCK, "p": 1e22, "s": 1e-22}),
    raw({**STOCK, "p": 7, "s": 0}), raw({**STOCK, "s": 0.0}), raw({**STOCK, "p": 99.99, "s": 0.1}),
    raw({**CRYPTO, "p": 1e-7, "s": 2.5e-7}),
    b'{"ev":"T","sym":"A","x":1,"i":"1","p":1E+2,"s":-0,"t":5}',
    b'{"ev":"T","sym":"A","x":1,"i":"1","p":100.50e-1,"s":0.0,"t":5}',
    b'{"ev":"T","sym":"A","x":1,"i":"1","p":1.5e22,"s":15e-22,"t":5}',
    b'{"ev":"T","sym":"A","x":1,"i":"1","p":0.5,"s":-0.0,"t":5}',
    b'{"ev":"T","sym":"A","x":1,"i":"1","p":1.25E2,"s":3e+1,"t":5}',
    b'{"ev":"T","sym":"A","x":1,"i":"1","p":1e-9,"s":9e9,"t":5}', b'{"ev":"T","sym":"A","x":1,"i":"1","p":9E+9,"s":1e19,"t":5}',
    b'{"ev":"T","sym":"A","x":1,"i":"1","p":1.5,"s":1,"t":5,"u":[1e99,1e-999,2E+9,3e09]}',
    b'{"ev":"T","sym":"A","x":1,"i":"1","p":12e-1,"s":0e5,"t":5}',
    b'{"ev":"T","sym":"A","x":1,"i":"1","p":1.00000000000000e0,"s":1,"t":5}',
    b'{"ev":"T","sym":"A","x":-0,"i":"1","p":1,"s":1,"t":5,"z":-0,"q":-0}',
    raw({**STOCK, "p": 450359962737049, "s": 0.000000000000001}),
    # conditions
    raw({**STOCK, "c": []}), raw({**STOCK, "c": None}), raw({**STOCK, "c": [0]}), raw({**STOCK, "c": [-3, 0, 12]}),
    raw({**STOCK, "c": [I64, -I64]}), raw(without(STOCK, "c")), raw({**CRYPTO, "c": None}), raw({**CRYPTO, "c": []}),
    # strings: printable ASCII, space and tilde included
    raw({**STOCK, "sym": " ", "i": "~"}), raw({**STOCK, "sym": "BRK.A", "i": "!#$%&'()*+,-./:;<=>?@[]^_`{|}"}),
    raw({**CRYPTO, "pair": "X", "i": "0"}),
    # optional fields null or absent
    raw({**STOCK, "z": None, "q": None, "trfi": None, "trft": None}), raw(without(STOCK, "z", "q")),
    raw(without(STOCK, "q")), raw(without(STOCK, "z")), raw({**without(REPLAYED, "z", "q"), "trfi": 7}),
    raw({**REPLAYED, "trft_ns": None}), raw({**REPLAYED, "trft_ns": None, "trft": None, "trfi": None}),
    raw({**REPLAYED, "t_ns": None}), raw({**STOCK, "t_ns": None, "trft_ns": None}),
    raw({**REPLAYED, "_corr": None}), raw({**STOCK, "_corr": None}), raw({**STOCK, "_corr": 7}),
    raw({**CRYPTO, "_corr": 3, "t_ns": 5, "z": 4, "q": 9, "trfi": 3, "trft": 2, "trft_ns": 8, "sym": ""}),
    raw({**CRYPTO, "_corr": None, "t_ns": -5, "z": I32 + 1, "trfi": -(2**40), "trft": 0}),
    # unknown fields hold anything, up to the nesting depth
    raw({**STOCK, "u": {"a": [1, "x", {"b": None}], "c": True, "d": False, "e": -1.5e-300, "f": 1e307}}),
    raw({**STOCK, "u": [], "v": {}, "w": [[], {}], "y": "", "r": 1610462007576}),
    raw({**STOCK, "u": {"sym": "", "p": 0, "x": 2**40, "ev": "Q"}}),  # known names below depth 1 are not fields
    raw(STOCK)[:-1] + b',"u":{"p":1,"p":2}}', b'{"u":1,"u":2,' + raw(STOCK)[1:],  # repeated unknown keys
    raw({**STOCK, "u": json.loads("[" * (MAX_DEPTH - 1) + "1" + "]" * (MAX_DEPTH - 1))}),
    raw({**STOCK, "u": json.loads("[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1))}),
    raw({**STOCK, "u": json.loads('{"a":' * (MAX_DEPTH - 1) + "1" + "}" * (MAX_DEPTH - 1))}),
    raw({**STOCK, "u": [1, 2**70, -(2**70), 1e300, 123456789012345678901234567890.5]}),
    # unknown keys one byte off a known one, beside that known field (a key read as the field would be a duplicate)
    raw({**REPLAYED, "abm": 1, "sza": 1, "syx": 1, "xym": 1, "trxi": 1, "abfi": 1, "trxt": 1, "tafi": 1, "xrfi": 1}),
    raw({**CRYPTO, "abcr": 1, "paxx": 1, "xxir": 1, "pxxx": 1, "paix": 1, "xair": 1, "ex": 1, "xv": 1}),
    raw({**REPLAYED, "_corx": 1, "xcorr": 1, "_xorr": 1, "t_nx": 1, "x_ns": 1, "tx_ns": 1, "trft_nx": 1, "xrft_ns": 1}),
    raw({**STOCK, "longerkeyname": 1, "trfz": 1, "t_nx": 1, "_corx": 1, "trft_nx": 1, "Ev": "Q", "evx": 1}),
]  # fmt: skip


@pytest.mark.parametrize("value", ACCEPTED, ids=range(len(ACCEPTED)))
def test_what_the_subset_holds_is_accepted_with_the_reference_row(value: bytes) -> None:
    accepted(value)


def test_values_that_the_rows_must_show() -> None:
    """A few rows worked out by hand from the docstring (not only "as the reference")."""
    row = accepted(raw({**REPLAYED, "_corr": -7}))
    assert (row["ts_ns"], row["trf_ts_ns"], row["correction"]) == (REPLAYED["t_ns"], REPLAYED["trft_ns"], -7)
    assert (row["market"], row["symbol"], row["trade_id"], row["conditions"]) == ("stocks", "AAPL",
                                                                                   "52983525034125", "12,37")
    assert (row["exchange"], row["tape"], row["sequence"], row["trf_id"]) == (12, 3, 1017, 202)
    row = accepted(raw({**STOCK, "trft": 9}))
    assert (row["ts_ns"], row["trf_ts_ns"], row["correction"]) == (1536036818784 * 10**6, 9 * 10**6, None)
    row = accepted(raw({**REPLAYED, "t": 3, "trft_ns": None, "trft": 4}))
    assert (row["ts_ns"], row["trf_ts_ns"], row["correction"]) == (REPLAYED["t_ns"], 4 * 10**6, 0)
    row = accepted(raw(CRYPTO))
    assert (row["market"], row["symbol"], row["tape"], row["sequence"], row["trf_id"], row["trf_ts_ns"],
            row["correction"], row["exchange"]) == ("crypto", "BTC-USD", None, None, None, None, None, 1)
    assert row["ts_ns"] == 1610462007425 * 10**6 and row["conditions"] == "2"
    row = accepted(b'{"ev":"T","sym":"A","x":1,"i":"1","p":100.50e-1,"s":-0.0,"t":5,"c":[]}')
    assert repr((row["price"], row["size"], row["conditions"])) == repr((10.05, -0.0, None))
    row = accepted(b'{"ev":"T","sym":"A","x":-0,"i":"1","p":1,"s":-0,"t":5}')
    assert repr((row["size"], row["exchange"])) == repr((0.0, 0))
    row = accepted(raw({**STOCK, "p": 1e-22, "s": 1234567890.12345}))
    assert (row["price"], row["size"]) == (1e-22, 1234567890.12345)


# --- handed back: just past the edges, or what the reference rejects ------------------------------------------

HANDED_BACK = [
    # integers past the 32- and 64-bit bounds, timestamps not positive or past 64-bit nanoseconds
    raw({**STOCK, "x": I32 + 1}), raw({**STOCK, "x": -(2**31) - 1}), raw({**STOCK, "z": I32 + 1}),
    raw({**STOCK, "z": -(2**31) - 1}), raw({**STOCK, "trfi": I32 + 1}), raw({**STOCK, "trfi": -(2**31) - 1}),
    raw({**REPLAYED, "_corr": I32 + 1}), raw({**REPLAYED, "_corr": -(2**31) - 1}),
    raw({**STOCK, "q": I64 + 1}), raw({**STOCK, "q": -I64 - 1}), raw({**STOCK, "q": 10**19}),
    raw({**STOCK, "q": 99999999999999999999}), raw({**STOCK, "t": MAX_MS + 1}), raw({**STOCK, "trft": MAX_MS + 1}),
    raw({**STOCK, "t": 0}), raw({**STOCK, "t": -1}), raw({**STOCK, "trft": 0}), raw({**STOCK, "trft": -5}),
    raw({**REPLAYED, "t_ns": 0}), raw({**REPLAYED, "t_ns": -1}), raw({**REPLAYED, "trft_ns": 0}),
    raw({**REPLAYED, "trft_ns": -1}), raw({**REPLAYED, "t_ns": I64 + 1}), raw({**CRYPTO, "t": 0}),
    raw({**CRYPTO, "t": MAX_MS + 1}), raw({**CRYPTO, "x": I32 + 1}), raw({**CRYPTO, "x": -(2**31) - 1}),
    raw({**REPLAYED, "t_ns": 2**63}), raw({**CRYPTO, "t": -3}),
    # numbers it cannot read exactly, or not positive
    raw({**STOCK, "p": 1234567890.123456}), raw({**STOCK, "p": 1234567890123456}), raw({**STOCK, "s": 2**53 + 1}),
    raw({**STOCK, "p": 1e23}), raw({**STOCK, "p": 1e-23}), raw({**STOCK, "s": 0.30000000000000004}),
    raw({**STOCK, "p": 0}), raw({**STOCK, "p": 0.0}), raw({**STOCK, "p": -1.5}), raw({**STOCK, "s": -1}),
    raw({**STOCK, "s": -0.5}), raw({**STOCK, "p": -0.0}), raw({**CRYPTO, "p": 0}), raw({**CRYPTO, "s": -2}),
    b'{"ev":"T","sym":"A","x":1,"i":"1","p":1.5,"s":1,"t":5,"u":1e308}',
    b'{"ev":"T","sym":"A","x":1,"i":"1","p":1.5,"s":1,"t":5,"u":10e307}',
    b'{"ev":"T","sym":"A","x":1,"i":"1","p":1.5,"s":1,"t":5,"u":1000000000000000000000e288}',
    b'{"ev":"T","sym":"A","x":1,"i":"1","p":1.0000000000000000,"s":1,"t":5}',
    # types other than the reference's
    raw({**STOCK, "p": "1.5"}), raw({**STOCK, "p": True}), raw({**STOCK, "x": 4.0}), raw({**STOCK, "x": True}),
    raw({**STOCK, "x": "4"}), raw({**STOCK, "z": 1.5}), raw({**STOCK, "q": False}), raw({**STOCK, "t": 5.0}),
    raw({**STOCK, "trfi": "1"}), raw({**STOCK, "trft": [1]}), raw({**REPLAYED, "t_ns": 1.5}),
    raw({**REPLAYED, "trft_ns": "1"}), raw({**REPLAYED, "_corr": 1.5}), raw({**REPLAYED, "_corr": True}),
    raw({**REPLAYED, "_corr": "1"}), raw({**REPLAYED, "_corr": [1]}), raw({**STOCK, "sym": 5}),
    raw({**STOCK, "i": 5}), raw({**STOCK, "i": True}), raw({**CRYPTO, "pair": 1}), raw({**CRYPTO, "i": 17}),
    raw({**STOCK, "c": 12}), raw({**STOCK, "c": "12"}), raw({**STOCK, "c": {}}), raw({**STOCK, "c": [1.0]}),
    raw({**STOCK, "c": [1, None]}), raw({**STOCK, "c": [1, "2"]}), raw({**STOCK, "c": [[1]]}),
    raw({**STOCK, "c": [True]}), raw({**STOCK, "c": [2**63]}), raw({**STOCK, "c": [{}]}), raw({**STOCK, "c": [[]]}),
    b'{"ev":"T","sym":"A","x":1,"i":"1","p":1.5,"s":1,"t":5,"c":[-0]}',
    b'{"ev":"T","sym":"A","x":1,"i":"1","p":1.5,"s":1,"t":5,"c":[1e2]}',
    b'{"ev":"T","sym":"A","x":1,"i":"1","p":1.5,"s":1,"t":5,"c":[01]}',
    b'{"ev":"T","sym":"A","x":1,"i":"1","p":1.5,"s":1,"t":5,"c":[1,]}',
    b'{"ev":"T","sym":"A","x":1,"i":"1","p":1.5,"s":1,"t":5,"c":[-]}',
    raw({**STOCK, "z": {}}), raw({**STOCK, "q": []}), raw({**STOCK, "sym": ["A"]}),
    # missing or empty required fields, wrong ev
    raw(without(STOCK, "sym")), raw(without(STOCK, "i")), raw(without(STOCK, "x")), raw(without(STOCK, "p")),
    raw(without(STOCK, "s")), raw(without(STOCK, "t")), raw(without(STOCK, "ev")), raw({**STOCK, "sym": ""}),
    raw({**STOCK, "i": ""}), raw({**STOCK, "sym": None}), raw({**STOCK, "p": None}), raw({**STOCK, "x": None}),
    raw({**STOCK, "t": None}), raw({**STOCK, "i": None}), raw({**STOCK, "s": None}),
    raw({**CRYPTO, "pair": ""}), raw(without(CRYPTO, "pair")), raw({**without(CRYPTO, "pair"), "sym": "BTC-USD"}),
    raw(without(CRYPTO, "i")), raw(without(CRYPTO, "t")), raw({**CRYPTO, "t": None, "t_ns": 5}),
    raw({**without(STOCK, "sym"), "pair": "MSFT"}), raw({**STOCK, "ev": "Q"}), raw({**STOCK, "ev": "XQ"}),
    raw({**STOCK, "ev": "TT"}), raw({**STOCK, "ev": "X"}), raw({**STOCK, "ev": "XX"}), raw({**STOCK, "ev": "TX"}),
    raw({**STOCK, "ev": "XT_"}), raw({**STOCK, "ev": ""}), raw({**STOCK, "ev": None}), raw({**STOCK, "ev": 1}),
    raw({**STOCK, "ev": "status"}), raw({**STOCK, "ev": "t"}), raw({**CRYPTO, "ev": "xt"}),
    raw({**without(STOCK, "sym"), "u": {"sym": "MSFT"}}),  # a known name below depth 1 is not the field
    # duplicated known keys (the reference keeps the last; the fast path does not guess)
    b'{"ev":"T","sym":"A","x":1,"i":"1","p":1.5,"s":1,"t":5,"x":2}',
    b'{"ev":"T","sym":"A","x":1,"i":"1","p":1.5,"s":1,"t":5,"_corr":5,"_corr":6}',
    b'{"ev":"T","sym":"A","x":1,"i":"1","p":1.5,"s":1,"t":5,"sym":"B"}',
    b'{"ev":"XT","pair":"A","x":1,"i":"1","p":1.5,"s":1,"t":5,"ev":"T"}',
    b'{"ev":"T","sym":"A","x":1,"i":"1","p":1.5,"s":1,"t":5,"c":null,"c":[1]}',
    # strings outside printable ASCII, escapes
    raw({**STOCK, "sym": "MS\x1fFT"}), raw({**STOCK, "sym": "MS\x7fFT"}), raw({**STOCK, "i": "\u00e9"}),
    b'{"ev":"T","sym":"M\\u0053FT","x":1,"i":"1","p":1.5,"s":1,"t":5}',
    b'{"ev":"T","sym":"A","x":1,"i":"1","p":1.5,"s":1,"t":5,"u":"a\\"b"}',
    b'{"ev":"T","sym":"A","x":1,"i":"1","p":1.5,"s":1,"t":5,"u":"\xc3\xa9"}',
    b'{"ev":"T","sym":"A","x":1,"i":"1","p":1.5,"s":1,"t":5,"u":"\xff"}',
    b'{"ev":"T","sym":"A","x":1,"i":"1","p":1.5,"s":1,"t":5,"u":"a\tb"}',
    # nesting past the depth, structure, whitespace, truncation
    raw({**STOCK, "u": json.loads("[" * MAX_DEPTH + "1" + "]" * MAX_DEPTH)}),
    raw({**STOCK, "u": json.loads("[" * MAX_DEPTH + "]" * MAX_DEPTH)}),
    raw({**STOCK, "u": json.loads('{"a":' * MAX_DEPTH + "1" + "}" * MAX_DEPTH)}),
    b"", b"{", b"}", b"{}", b"[]", b"[1]", b'"T"', b"null", b"1", b"x", b"{1}", b'{"ev"}', b'{"ev":}', b'{"ev":"T"',
    b'{"ev":"T",}', b'{"ev" :"T"}', b'{"ev": "T"}', b'{,"ev":"T"}', b'{"ev":"T""sym":"A"}', b'{"ev":"T"}}',
    raw(STOCK) + b" ", b" " + raw(STOCK), raw(STOCK) + b"\n", raw(STOCK).replace(b",", b", ", 1),
    raw(STOCK).replace(b":", b": ", 1), raw(STOCK)[:-1], raw(STOCK)[:-2], raw(STOCK) + raw(STOCK),
    raw(STOCK) + b"x", raw(STOCK) + b"}", raw(STOCK)[:-1] + b"]", raw(STOCK).replace(b"[0,12]", b"[0,12}"),
    raw({**STOCK, "u": [1]}).replace(b"[1]", b"[1}"), raw({**STOCK, "u": {"a": 1}}).replace(b'{"a":1}', b'{"a":1]'),
    raw({**STOCK, "u": [1, 2]}).replace(b"[1,2]", b"[1 2]"), raw({**STOCK, "u": {"a": 1}}).replace(b'"a":1', b'"a"1'),
    raw({**STOCK, "u": {"a": 1}}).replace(b'"a":1', b'1:1'), raw({**STOCK, "u": [1]}).replace(b"[1]", b"[1"),
    raw({**STOCK, "u": []}).replace(b"[]", b"[,]"), raw({**STOCK, "u": {}}).replace(b"{}", b"{,}"),
    raw({**STOCK, "u": 1}).replace(b'"u":1', b'"u"'), raw({**STOCK, "u": 1}).replace(b'"u":1', b'"u":'),
    raw({**STOCK, "u": "zz"}).replace(b'"zz"', b'"zz'), raw({**STOCK, "u": 1})[:-1] + b",",
    # cut inside a string or right after a key: the record's last byte (alone, it is the batch's last byte too)
    b'{"ev":"T","u":"ab', b'{"ev":"T","u"', b'{"ev"', b'{"ev":"T","sym"', b'{"ev":"T","sym":"A', b'{"',
    # every field read, then the record cut inside a last value (a number, a literal, a string, a container)
    *(raw(STOCK)[:-1] + b',"u":' + tail for tail in (
        b"", b"-", b"0", b"-0", b"1", b"12", b"1.", b"1.5", b"1e", b"1e+", b"1e5", b"0.0", b"tru", b"true", b"nul",
        b"null", b"fals", b"false", b'"', b'"ab', b'"ab"', b"[", b"[1", b"[1,", b"[]", b"{", b'{"a"', b'{"a":',
        b'{"a":1', b"{}", b"[[1]", b"[-", b"[0", b"1e309", b"1e+309", b"10e308", b"0.1e310")),
    *(raw(without(STOCK, "c"))[:-1] + b',"c":' + tail for tail in (
        b"[", b"[1", b"[1,", b"[-", b"[0", b"[12", b"[]", b"[1]", b"null", b"nul", b"[-0", b"[1.5", b"[1e2", b"[1E2",
        b"[99999999999999999999", b"[1,-0", b"[1,2.0")),
    # literals misspelled at each byte, in a record otherwise whole
    *(raw({**STOCK, "u": 1}).replace(b'"u":1', b'"u":' + bad) for bad in (
        b"nxll", b"nuxl", b"nulx", b"txue", b"trxe", b"trux", b"fxlse", b"faxse", b"falxe", b"falsx")),
    # raw control and DEL bytes (json.dumps would escape them)
    b'{"ev":"T","sym":"MS\x7fFT","x":1,"i":"1","p":1.5,"s":1,"t":5}',
    b'{"ev":"T","sym":"MS\x1fFT","x":1,"i":"1","p":1.5,"s":1,"t":5}',
    b'{"ev":"T","sym":"A","x":1,"i":"\x00","p":1.5,"s":1,"t":5}',
    b'{"ev":"T","sym":"A","x":1,"i":"1","p":1.5,"s":1,"t":5,"u\x7f":1}',
    # a bad byte just before what would close the string and go on (the string must not end at the bad byte)
    b'{"ev":"T","sym":"A\x7f,"x":1,"i":"1","p":1.5,"s":1,"t":5}',
    b'{"ev":"T","sym":"A\\,"x":1,"i":"1","p":1.5,"s":1,"t":5}',
    b'{"ev":"T","sym":"A\x1f,"x":1,"i":"1","p":1.5,"s":1,"t":5}',
    b'{"ev":"T","sym":"A\xc3,"x":1,"i":"1","p":1.5,"s":1,"t":5}',
    # a member not followed by a comma or the end, in a record otherwise whole
    raw(STOCK)[:-1] + b',"u":1"x"}', raw(STOCK)[:-1] + b',"u":"a"2}', raw(STOCK)[:-1] + b',"u":true"x"}',
    raw(STOCK)[:-1] + b',"u":[1]2}', raw(STOCK)[:-1] + b',"u":{}"x"}', raw(STOCK)[:-1] + b',"u":1:2}',
    # two-letter evs that are not XT, with a crypto trade's fields
    raw({**CRYPTO, "ev": "ZT"}), raw({**CRYPTO, "ev": "TT"}), raw({**CRYPTO, "ev": "XQ"}), raw({**CRYPTO, "ev": "XX"}),
    raw({**CRYPTO, "ev": "X"}), raw({**CRYPTO, "ev": "T"}), raw({**STOCK, "ev": "U"}), raw({**STOCK, "ev": "Q"}),
    # a duplicated ev whose last value makes a trade the reference accepts (it keeps the last)
    b'{"ev":"Q","sym":"A","x":1,"i":"1","p":1.5,"s":1,"t":5,"ev":"T"}',
    b'{"ev":"T","pair":"A","x":1,"i":"1","p":1.5,"s":1,"t":5,"ev":"XT"}',
    b'{"ev":"T","sym":"A","sym":"B","x":1,"i":"1","p":1.5,"s":1,"t":5}',
    b'{"ev":"T","sym":"A","x":1,"i":"1","i":"2","p":1.5,"s":1,"t":5}',
    b'{"ev":"T","sym":"A","x":1,"i":"1","p":1.5,"s":1,"t":5,"t":6}',
    b'{"ev":"T","sym":"A","x":1,"i":"1","p":1.5,"s":1,"t":5,"trft_ns":7,"trft_ns":8}',
    # literals and numbers outside JSON's grammar
    *(raw({**STOCK, "u": 1}).replace(b'"u":1', b'"u":' + bad) for bad in (
        b"tru", b"nul", b"fals", b"trUe", b"nulL", b"falsE", b"True", b"NULL", b"t", b"n", b"f", b"truex", b"nullx",
        b"-", b"--1", b"+1", b".5", b"1.", b"1.e5", b"1e", b"1e+", b"1e-", b"01", b"00", b"-01", b"1..2", b"1ee2",
        b"0x1", b"1_0", b"-a", b"1e5.5", b"Infinity", b"NaN", b"-Infinity", b"'a'", b"1.5e", b"0.")),
    raw({**CRYPTO, "trfi": "x"}), raw({**CRYPTO, "_corr": 1.5}), raw({**CRYPTO, "t_ns": [1]}),  # known types
    b'{"ev":"T","sym":"A","x":1,"i":"1","p":1.5,"s":15e-23,"t":5}',
    raw({**STOCK, "u": True})[:-6] + b'tru', raw({**STOCK, "u": None})[:-6] + b'nul',
    raw({**STOCK, "u": False})[:-7] + b'fals', raw({**STOCK, "u": 1})[:-3] + b'-',
    raw({**STOCK, "u": 1.5})[:-3] + b'1.', raw({**STOCK, "u": 1e5})[:-2] + b'e',
]  # fmt: skip


@pytest.mark.parametrize("value", HANDED_BACK, ids=range(len(HANDED_BACK)))
def test_what_it_cannot_vouch_for_is_handed_back(value: bytes) -> None:
    handed_back(value)


def test_spans_point_at_the_texts_of_the_record() -> None:
    values = [raw(STOCK), b"x", raw({**CRYPTO, "c": []}), raw(REPLAYED)]
    data = np.frombuffer(b"".join(values), np.uint8)
    offsets = np.cumsum([0, *map(len, values)]).astype(np.int64)
    parsed = parse_trades(data, offsets)
    assert parsed.ok.tolist() == [True, False, True, True]
    text = b"".join(values)
    for k, (sym, tid, cond) in {0: (b"MSFT", b"12345", b"0,12"), 2: (b"BTC-USD", b"14272084", None),
                                3: (b"AAPL", b"52983525034125", b"12,37")}.items():
        start, length = parsed.spans[k, SPAN_SYMBOL], parsed.spans[k, SPAN_SYMBOL + 1]
        assert text[start:start + length] == sym
        start, length = parsed.spans[k, SPAN_ID], parsed.spans[k, SPAN_ID + 1]
        assert text[start:start + length] == tid
        start, length = parsed.spans[k, SPAN_CONDITIONS], parsed.spans[k, SPAN_CONDITIONS + 1]
        assert (length == -1 and start == 0) if cond is None else text[start:start + length] == cond
    rows = np.array([3, 0, 2])
    offs, chars, valid = parsed.texts(rows, SPAN_CONDITIONS)
    assert offs.tolist() == [0, 5, 9, 9] and bytes(chars) == b"12,370,12" and valid.tolist() == [True, True, False]
    offs, chars, valid = parsed.texts(rows, SPAN_SYMBOL)
    assert offs.tolist() == [0, 4, 8, 15] and bytes(chars) == b"AAPLMSFTBTC-USD" and valid.all()
    assert offs.dtype == np.int32 and valid.dtype == np.bool_
    offs, chars, valid = parsed.texts(np.array([], np.int64), SPAN_ID)
    assert offs.tolist() == [0] and chars.size == 0 and valid.size == 0


def test_the_fields_of_accepted_records() -> None:
    """ParsedTrades' columns directly, worked out by hand: ints (tape, sequence, trf_id, trf_ts_ns, correction,
    exchange) and present, for a stock, a replayed stock and a crypto trade."""
    values = [raw(STOCK), raw({**REPLAYED, "_corr": -7}), raw({**CRYPTO, "z": 4, "q": 9}), raw(REPLAYED)]
    data = np.frombuffer(b"".join(values), np.uint8)
    offsets = np.cumsum([0, *map(len, values)]).astype(np.int64)
    parsed = parse_trades(data, offsets)
    assert parsed.ok.tolist() == [True] * 4 and parsed.is_stock.tolist() == [True, True, False, True]
    assert parsed.ts_ns.tolist() == [1536036818784 * 10**6, REPLAYED["t_ns"], 1610462007425 * 10**6,
                                     REPLAYED["t_ns"]]
    assert parsed.price.tolist() == [114.125, 169.2, 33021.9, 169.2]
    assert parsed.size.tolist() == [100.0, 5.0, 0.01616304, 5.0]
    assert parsed.ints.tolist() == [[3, 3681328, 0, 0, 0, 4], [3, 1017, 202, REPLAYED["trft_ns"], -7, 12],
                                    [0, 0, 0, 0, 0, 1], [3, 1017, 202, REPLAYED["trft_ns"], 0, 12]]
    assert parsed.present.tolist() == [[True, True, False, False, False], [True] * 5, [False] * 5, [True] * 5]
    empty = parse_trades(np.zeros(0, np.uint8), np.zeros(1, np.int64))
    assert empty.ok.size == 0 and empty.ints.shape == (0, 6)


def test_short_records_at_the_end_of_a_batch_are_handed_back() -> None:
    for tail in (b"", b"{", b"}", b"x"):
        rows, rest = fast([raw(STOCK), tail])
        assert rest == [1] and len(rows) == 1, tail
        rows, rest = fast([tail, raw(STOCK), tail, tail])
        assert rest == [0, 2, 3] and len(rows) == 1, tail


def test_the_result_does_not_depend_on_leftover_memory() -> None:
    """The kernel's scratch arrays come from ``np.empty``: numpy hands a small buffer just freed to the next
    allocation of its size, so junk left there must not change what is read."""
    values = [raw(REPLAYED), raw({**STOCK, "u": [[{"a": [1]}]]})]
    data = np.frombuffer(b"".join(values), np.uint8)
    offsets = np.cumsum([0, *map(len, values)]).astype(np.int64)
    for fill in (0, 0xFF, 91, 123, 34):
        for nbytes in (_FIELDS, _FIELDS * 8, MAX_DEPTH + 1, 7 * 8):
            junk = np.full(nbytes, fill, np.uint8)
            del junk
        assert parse_trades(data, offsets).ok.tolist() == [True, True], fill
