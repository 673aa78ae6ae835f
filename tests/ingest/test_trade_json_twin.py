"""The JSON trade parser's plain-Python twin (what runs under ``UDX_DISABLE_NUMBA=1``, e.g. in mutation
testing) reads the same records as the compiled kernel, field for field. Found by the mutation run of
``ingest/normalize.py``: the twin raised ``OverflowError`` on every price (``_INT64_MAX - d`` with ``d`` a
``uint8`` digit under NumPy 2's promotion rules)."""

from __future__ import annotations

import numpy as np
import orjson

from ingest.trade_json import _POW10, ParsedTrades, _parse_trades, _parse_trades_compiled

RECORDS = [
    {"ev": "T", "sym": "MSFT", "x": 4, "i": "12345", "z": 3, "p": 114.125, "s": 100, "c": [0, 12],
     "t": 1536036818784, "q": 3681328},
    {"ev": "XT", "pair": "BTC-USD", "p": 33021.9, "t": 1610462007425, "s": 0.01616304, "c": [2], "i": "1", "x": 1},
    {"ev": "T", "sym": "AAPL", "x": 12, "i": "52983525034125", "z": 3, "p": 169.2, "s": 5, "c": [12, 37],
     "t": 1712306654208, "q": 3807, "_corr": 12},
    {"ev": "T", "sym": "BIG", "x": 1, "i": "9", "z": 1, "p": 99999999999999999999.5, "s": 1, "t": 1712306654208},
    b'{"ev":"T","sym":"EXP","x":1,"i":"8","z":1,"p":1.25E2,"s":3e+1,"t":1712306654208}',  # exponents
    {"ev": "T", "sym": "BAD", "p": "not a number"},
]


def _run(kernel) -> ParsedTrades:
    values = [r if isinstance(r, bytes) else orjson.dumps(r) for r in RECORDS]
    data = np.frombuffer(b"".join(values), np.uint8)
    offsets = np.cumsum([0, *map(len, values)]).astype(np.int64)
    parsed = ParsedTrades(data, len(values))
    kernel(data, offsets, _POW10, parsed.ok, parsed.is_stock, parsed.ts_ns, parsed.price, parsed.size, parsed.ints,
           parsed.present, parsed.spans)
    return parsed


def test_the_plain_twin_reads_what_the_compiled_parser_reads() -> None:
    twin, compiled = _run(_parse_trades), _run(_parse_trades_compiled)
    assert compiled.ok.tolist() == [True, True, True, True, True, False]
    assert compiled.price[4] == 125.0 and compiled.size[4] == 30.0
    for name in ParsedTrades.__slots__:
        if name != "data":
            np.testing.assert_array_equal(getattr(twin, name), getattr(compiled, name), err_msg=name)
