"""Test doubles of ``vertica_sdk`` (which exists only inside Vertica): the reader, writer, parameter reader,
server interface and column-type objects with the SDK's method names, and :func:`run_udx`, which drives a UDx
factory and its transform function over one partition as Vertica does."""

from __future__ import annotations

from typing import Any

__all__ = ["FakeParams", "FakeReader", "FakeServer", "FakeTypes", "FakeWriter", "run_udx"]


class FakeReader:
    """PartitionReader: one row at a time, ``next()`` is False after the last row."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self._rows = rows
        self._i = 0

    def _value(self, col: int) -> Any:
        return self._rows[self._i][col]

    def isNull(self, col: int) -> bool:  # noqa: N802 - SDK names
        return self._value(col) is None

    def getInt(self, col: int) -> int:  # noqa: N802
        return int(self._value(col))

    def getFloat(self, col: int) -> float:  # noqa: N802
        return float(self._value(col))

    def getString(self, col: int) -> str:  # noqa: N802
        return str(self._value(col))

    def next(self) -> bool:
        self._i += 1
        return self._i < len(self._rows)


class FakeWriter:
    """PartitionWriter: collects the rows; a row's unset columns are an error (Vertica needs every one)."""

    def __init__(self, n_cols: int) -> None:
        self.rows: list[list[Any]] = []
        self._n = n_cols
        self._row: dict[int, Any] = {}

    def _set(self, col: int, value: Any) -> None:
        assert 0 <= col < self._n and col not in self._row
        self._row[col] = value

    def setInt(self, col: int, v: int) -> None:  # noqa: N802
        assert isinstance(v, int)
        self._set(col, v)

    def setFloat(self, col: int, v: float) -> None:  # noqa: N802
        assert isinstance(v, float)
        self._set(col, v)

    def setBool(self, col: int, v: bool) -> None:  # noqa: N802
        self._set(col, bool(v))

    def setString(self, col: int, v: str) -> None:  # noqa: N802
        assert isinstance(v, str)
        self._set(col, v)

    def setNull(self, col: int) -> None:  # noqa: N802
        self._set(col, None)

    def next(self) -> bool:
        assert sorted(self._row) == list(range(self._n)), "every output column must be set"
        self.rows.append([self._row[i] for i in range(self._n)])
        self._row = {}
        return True


class FakeParams:
    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def containsParameter(self, name: str) -> bool:  # noqa: N802
        return name in self._values

    def getString(self, name: str) -> str:  # noqa: N802
        return str(self._values[name])

    def getInt(self, name: str) -> int:  # noqa: N802
        return int(self._values[name])


class FakeServer:
    def __init__(self, params: dict[str, Any]) -> None:
        self._params = FakeParams(params)

    def getParamReader(self) -> FakeParams:  # noqa: N802
        return self._params

    def log(self, message: str) -> None:
        pass


class FakeTypes:
    """ColumnTypes / SizedColumnTypes: records the add* calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("add"):
            raise AttributeError(name)
        return lambda *args: self.calls.append((name, *args))


def run_udx(factory: Any, rows: list[tuple[Any, ...]], params: dict[str, Any]) -> tuple[list[str], list[list[Any]]]:
    """Drive ``factory`` and its transform function as Vertica would over one partition (``rows``, each cut to
    the prototype's arguments); return the output column names and rows."""
    prototype_args, prototype_out, sized = FakeTypes(), FakeTypes(), FakeTypes()
    factory.getPrototype(None, prototype_args, prototype_out)
    factory.getReturnType(None, prototype_args, sized)
    names = [call[-1] for call in sized.calls]
    server = FakeServer(params)
    function = factory.createTransformFunction(server)
    function.setup(server, None)
    writer = FakeWriter(len(names))
    if rows:
        n_args = len(prototype_args.calls)
        function.processPartition(server, FakeReader([r[:n_args] for r in rows]), writer)
    function.destroy(server, None)
    return names, writer.rows
