"""``run_transform``'s process-wide settings for its duration: it leaves the objects that exist before it out of the
garbage collector's passes (``gc.freeze``) and hands them back after (``gc.unfreeze``), and allocates its Arrow
buffers from the C library's malloc (``pa.system_memory_pool``) with the default pool back after, also when it
fails: an object made unreachable before the run is still collected after it, nothing stays frozen, and the
caller's pool is its default again."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import pyarrow as pa
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
    seen: list[tuple[int, str]] = []
    before = pa.default_memory_pool().backend_name
    try:
        load(storage, 0, CUT + 3 * NS)
        assert gc.get_freeze_count() == 0
        summary = run_transform(storage, config, progress=lambda d, t: seen.append(
            (gc.get_freeze_count(), pa.default_memory_pool().backend_name)))
    finally:
        storage.close()
    assert summary.symbols > 0 and seen and min(n for n, _ in seen) > 0  # frozen while the symbols were computed
    assert {pool for _, pool in seen} == {"system"}
    assert gc.get_freeze_count() == 0 and pa.default_memory_pool().backend_name == before
    del old
    gc.collect()
    assert gone() is None  # made unreachable before the run: collected once it is over


def test_a_failed_run_unfreezes_and_restores_the_pool_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage, config = open_db(tmp_path / "f.duckdb")
    original = pa.default_memory_pool()
    mine = pa.jemalloc_memory_pool() if "jemalloc" in pa.supported_memory_backends() else pa.mimalloc_memory_pool()
    pa.set_memory_pool(mine)  # a caller's own choice comes back

    def fail(*args: object, **kwargs: object) -> None:
        assert gc.get_freeze_count() > 0 and pa.default_memory_pool().backend_name == "system"
        raise RuntimeError("read failed")

    monkeypatch.setattr(transform, "_read_plan", fail)
    try:
        load(storage, 0, CUT + 3 * NS)
        with pytest.raises(RuntimeError, match="read failed"):
            run_transform(storage, config)
    finally:
        storage.close()
        default = pa.default_memory_pool()
        pa.set_memory_pool(original)
    assert gc.get_freeze_count() == 0 and default.backend_name == mine.backend_name
