"""sql.contract.with_liquidity: the signal rows in their order with the measures of their own bar, NULL without."""

from __future__ import annotations

import pyarrow as pa

from sql.contract import BAR_LIQUIDITY_SCHEMA, LIQUIDITY_COLUMNS, with_liquidity


def _signals(keys):
    return pa.table({"symbol": [k[0] for k in keys], "bar_seconds": pa.array([k[1] for k in keys], pa.int32()),
                     "bar_end_ns": pa.array([k[2] for k in keys], pa.int64()),
                     "close": [1.0 + i for i in range(len(keys))]})


def _liquidity(keys, spreads):
    n = len(keys)
    values = {f.name: pa.nulls(n, f.type) for f in BAR_LIQUIDITY_SCHEMA}
    values.update(symbol=pa.array([k[0] for k in keys]), bar_seconds=pa.array([k[1] for k in keys], pa.int32()),
                  bar_end_ns=pa.array([k[2] for k in keys], pa.int64()),
                  quoted_spread=pa.array(spreads, pa.float64()),
                  n_quotes=pa.array(range(n), pa.int64()))
    return pa.table(values, schema=BAR_LIQUIDITY_SCHEMA)


def test_each_row_gets_the_measures_of_its_own_bar_in_the_signals_order():
    keys = [("B", 60, 300), ("A", 60, 120), ("A", 300, 120), ("A", 60, 60)]
    liq = _liquidity([("A", 60, 60), ("B", 60, 300), ("A", 60, 120), ("C", 60, 60)], [0.1, 0.2, 0.3, 0.4])
    out = with_liquidity(_signals(keys), liq)
    assert out.column_names == ["symbol", "bar_seconds", "bar_end_ns", "close", *LIQUIDITY_COLUMNS]
    assert out["close"].to_pylist() == [1.0, 2.0, 3.0, 4.0]
    assert out["quoted_spread"].to_pylist() == [0.2, 0.3, None, 0.1]  # ("A", 300, 120): another grid, none
    assert out["n_quotes"].to_pylist() == [1, 2, None, 0]


def test_without_liquidity_rows_the_measures_are_null():
    keys = [("A", 60, 60)]
    for liq in (None, _liquidity([], [])):
        out = with_liquidity(_signals(keys), liq)
        assert all(out[c].to_pylist() == [None] for c in LIQUIDITY_COLUMNS)
