"""A storage with some of its methods hidden, so a bench can time the transform without the step they serve."""

from __future__ import annotations

from typing import Any

__all__ = ["StorageWithout"]


class StorageWithout:
    """Wrap ``storage``; every attribute passes through except ``hidden``, which raise :class:`AttributeError`.

    The transform runs an optional step only when its storage offers the step's method (``read_quotes_many``
    for bar liquidity, ``realized_spread_due`` for the realized spread), so hiding it times the transform as it
    was before the step.
    """

    def __init__(self, storage: Any, *hidden: str) -> None:
        self._storage = storage
        self._hidden = frozenset(hidden)

    def __getattr__(self, name: str) -> Any:
        if name in self._hidden:
            raise AttributeError(name)
        return getattr(self._storage, name)
