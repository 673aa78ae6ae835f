"""``run_transform`` leaves the objects that exist before it out of the garbage collector's passes while it runs
(``gc.freeze``) and hands them back after (``gc.unfreeze``), also when it fails: an object made unreachable during
the run is still collected after it, and nothing stays frozen."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pytest

from test_transform_plumbing import CUT, load
from test_transform_small import open_db
from udx import transform
from udx.transform import run_transform

pytestmark = pytest.mark.duckdb

NS = 1_000_000_000


class _Cycle:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self) -> None:
        self.me = self


def test_old_objects_are_frozen_during_the_run_and_released_after(tmp_path: Path) -> None:
    storage, config = open_db(tmp_path / "f.duckdb")
    old = _Cycle()
    gone = weakref.ref(old)
    seen: list[int] = []
    try:
        load(storage, 0, CUT + 3 * NS)
        assert gc.get_freeze_count() == 0
        summary = run_transform(storage, config, progress=lambda d, t: seen.append(gc.get_freeze_count()))
    finally:
        storage.close()
    assert summary.symbols > 0 and seen and min(seen) > 0  # frozen while the symbols were computed
    assert gc.get_freeze_count() == 0
    del old
    gc.collect()
    assert gone() is None  # made unreachable before the run: collected once it is over


def test_a_failed_run_unfreezes_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage, config = open_db(tmp_path / "f.duckdb")

    def fail(*args: object, **kwargs: object) -> None:
        assert gc.get_freeze_count() > 0
        raise RuntimeError("read failed")

    monkeypatch.setattr(transform, "_read_plan", fail)
    try:
        load(storage, 0, CUT + 3 * NS)
        with pytest.raises(RuntimeError, match="read failed"):
            run_transform(storage, config)
    finally:
        storage.close()
    assert gc.get_freeze_count() == 0
