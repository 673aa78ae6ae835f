"""The stored state's encoding (``signal_state.state``, :mod:`udx.state`) against a plain reading of its format.

Version 3: JSON with ``"v": 3``, the close as :meth:`float.hex`, each array as ``"<kind>:<base64>"`` where the base64
is of the zlib stream of the array's little-endian bytes (kinds ``f8``, ``i8``, ``u2``). Version 2, written before,
is the same without zlib and is still read. The reference encoder and decoder below are written from that
description with :mod:`json`, :mod:`base64` and :mod:`zlib` alone.
"""

from __future__ import annotations

import base64
import json
import math
import zlib

import numpy as np
import pytest

from udx.state import StateError, SymbolState

_KINDS = {"f8": "<f8", "i8": "<i8", "u2": "<u2"}


def _kind(arr: np.ndarray) -> str:
    return "f8" if arr.dtype.kind == "f" else "u2" if arr.dtype == np.uint16 else "i8"


def _reference_text(state: SymbolState, version: int) -> str:
    """The state as the format describes it (``version`` 2: raw bytes; 3: their zlib stream)."""
    arrays = {}
    for name, arr in state.arrays.items():
        raw = np.asarray(arr, dtype=_KINDS[_kind(arr)]).tobytes()
        arrays[name] = f"{_kind(arr)}:{base64.b64encode(zlib.compress(raw) if version == 3 else raw).decode()}"
    return json.dumps({"v": version, "config": state.config, "last_bar_end_ns": state.last_bar_end_ns,
                       "last_close": state.last_close.hex(), "last_session_open_ns": state.last_session_open_ns,
                       "n_returns": state.n_returns, "arrays": arrays})


def _reference_arrays(text: str) -> dict[str, np.ndarray]:
    """The arrays of a version 3 text, read as the format describes them."""
    doc = json.loads(text)
    assert doc["v"] == 3
    out = {}
    for name, value in doc["arrays"].items():
        kind, data = value.split(":", 1)
        out[name] = np.frombuffer(zlib.decompress(base64.b64decode(data)), dtype=_KINDS[kind])
    return out


def _state() -> SymbolState:
    """Arrays shaped like the transform's: a float ring with NaN/inf/-0.0/subnormals, extreme int64 ends, and a
    long ring of small per-bar trade counts (mostly zeros), as a symbol carries them."""
    rng = np.random.default_rng(4)
    ret = rng.normal(0.0, 1e-3, 2000)
    ret[[0, 7, 100, 1999]] = [math.nan, math.inf, -0.0, 5e-324]
    counts = np.zeros(28_800, np.uint16)
    counts[rng.choice(counts.size, 3000, replace=False)] = rng.integers(1, 65535, 3000)
    return SymbolState({"bar_seconds": 60, "session": "00:00-24:00 UTC", "window": [3, 4]}, 120 * 10**9,
                       0.1 + 0.2, 60 * 10**9, 1234,
                       {"ret": ret, "ends": np.array([-(2**63), 0, 2**63 - 1], np.int64), "counts": counts,
                        "empty": np.empty(0, np.float64)})


def test_version_3_holds_the_zlib_stream_of_each_arrays_little_endian_bytes() -> None:
    state = _state()
    text = state.to_json()
    doc = json.loads(text)
    assert doc["v"] == 3
    assert doc["last_close"] == (0.1 + 0.2).hex() and doc["n_returns"] == 1234 and doc["config"] == state.config
    arrays = _reference_arrays(text)
    assert sorted(arrays) == sorted(state.arrays)
    for name, arr in state.arrays.items():
        assert arrays[name].dtype == np.dtype(_KINDS[_kind(arr)])
        assert arrays[name].tobytes() == np.asarray(arr, dtype=_KINDS[_kind(arr)]).tobytes(), name


def test_version_3_is_less_than_half_the_bytes_of_version_2() -> None:
    state = _state()
    assert len(state.to_json()) < 0.5 * len(_reference_text(state, 2))


@pytest.mark.parametrize("version", [2, 3])
def test_a_state_of_either_version_reads_back_bit_for_bit(version: int) -> None:
    state = _state()
    back = SymbolState.from_json(_reference_text(state, version))
    assert back.config == state.config
    assert (back.last_bar_end_ns, back.last_session_open_ns, back.n_returns) == (120 * 10**9, 60 * 10**9, 1234)
    assert back.last_close.hex() == (0.1 + 0.2).hex()
    assert sorted(back.arrays) == sorted(state.arrays)
    for name, arr in state.arrays.items():
        assert back.arrays[name].dtype == arr.dtype, name
        assert back.arrays[name].tobytes() == arr.tobytes(), name


def test_a_version_2_state_written_again_is_version_3_with_the_same_arrays() -> None:
    state = _state()
    again = SymbolState.from_json(_reference_text(state, 2)).to_json()
    arrays = _reference_arrays(again)
    assert all(arrays[name].tobytes() == np.asarray(arr, dtype=_KINDS[_kind(arr)]).tobytes()
               for name, arr in state.arrays.items())


@pytest.mark.parametrize("version", [1, 4, "3", None, True])
def test_other_versions_are_refused_by_name(version: object) -> None:
    doc = json.loads(_reference_text(_state(), 3))
    doc["v"] = version
    with pytest.raises(StateError, match="version"):
        SymbolState.from_json(json.dumps(doc))


def test_version_3_arrays_that_are_not_zlib_streams_are_refused() -> None:
    doc = json.loads(_reference_text(_state(), 2))  # raw bytes where version 3 holds zlib streams
    doc["v"] = 3
    with pytest.raises(StateError, match="zlib"):
        SymbolState.from_json(json.dumps(doc))


def test_a_state_fits_only_its_own_config_and_the_refusal_names_each_difference() -> None:
    state = _state()
    state.check_fits({"bar_seconds": 60, "session": "00:00-24:00 UTC", "window": [3, 4]})  # the same: no error
    with pytest.raises(StateError) as refused:
        state.check_fits({"bar_seconds": 300, "session": "00:00-24:00 UTC", "window": [3, 4], "new": 1})
    text = str(refused.value)
    assert "(bar_seconds: stored 60, wanted 300, new: stored None, wanted 1)" in text
    assert text.endswith("signal_state and trading_signals rows to recompute, or restore the old settings")
    assert "session" not in text.split(";")[0] and "window" not in text.split(";")[0]


def test_the_text_is_compact_sorted_json_and_reads_back_to_the_same_scalars() -> None:
    state = _state()
    shuffled = SymbolState(dict(reversed(list(state.config.items()))), state.last_bar_end_ns, state.last_close,
                           state.last_session_open_ns, state.n_returns, dict(reversed(list(state.arrays.items()))))
    text = state.to_json()
    assert shuffled.to_json() == text  # one text per state, whatever the order its dicts were built in
    assert ", " not in text and ": " not in text  # no whitespace between items
    doc = json.loads(text)
    assert list(doc) == sorted(doc) and list(doc["config"]) == sorted(doc["config"])
    assert (doc["last_bar_end_ns"], doc["last_session_open_ns"]) == (120 * 10**9, 60 * 10**9)
    back = SymbolState.from_json(text)
    assert (back.last_bar_end_ns, back.last_session_open_ns, back.n_returns) == (120 * 10**9, 60 * 10**9, 1234)


def test_arrays_of_other_dtypes_are_stored_as_their_kind_in_little_endian_order() -> None:
    state = SymbolState({}, 0, 1.0, 0, 0, {"i32": np.array([-5, 7], np.int32), "f4": np.array([0.5, -2.0], np.float32),
                                           "big": np.array([1.25, math.pi], ">f8")})
    arrays = _reference_arrays(state.to_json())
    assert arrays["i32"].dtype == np.dtype("<i8") and arrays["i32"].tolist() == [-5, 7]
    assert arrays["f4"].dtype == np.dtype("<f8") and arrays["f4"].tolist() == [0.5, -2.0]
    assert arrays["big"].dtype == np.dtype("<f8") and arrays["big"].tolist() == [1.25, math.pi]


@pytest.mark.parametrize(("text", "message"), [
    ("{", "signal state is not valid JSON"),
    ("[3]", "signal state version None is not supported"),
    ('{"v": 9}', "delete this grid's signal_state and trading_signals rows to recompute"),
])
def test_unreadable_texts_are_refused_with_what_to_do(text: str, message: str) -> None:
    with pytest.raises(StateError, match=message):
        SymbolState.from_json(text)


def test_an_unknown_array_kind_is_refused_by_name() -> None:
    doc = json.loads(_reference_text(_state(), 3))
    doc["arrays"]["ret"] = "f4:" + doc["arrays"]["ret"].split(":", 1)[1]
    with pytest.raises(StateError, match="unknown dtype 'f4'"):
        SymbolState.from_json(json.dumps(doc))


def _stream(text: str, name: str) -> bytes:
    """The zlib stream stored for array ``name`` (base64 decoded, not inflated)."""
    return base64.b64decode(json.loads(text)["arrays"][name].split(":", 1)[1])


def _entropy(raw: bytes) -> float:
    """Shannon entropy of the bytes, bits per byte (a plain reading of the definition)."""
    n = len(raw)
    return -sum(c / n * math.log2(c / n) for c in (raw.count(bytes([b])) for b in range(256)) if c)


def test_random_doubles_are_stored_in_the_stream_as_they_are_and_regular_arrays_are_deflated() -> None:
    rng = np.random.default_rng(7)
    ret = rng.normal(0.0, 1e-3, 2000)  # a window of returns: random mantissas
    ends = np.arange(2000, dtype=np.int64) * 60 * 10**9 + 1_700_000_000 * 10**9  # bar ends: regular steps
    counts = np.zeros(28_800, np.uint16)
    counts[::97] = 3
    assert _entropy(ret.tobytes()[:2048]) > 7.2 > _entropy(ends.tobytes()[:2048])  # the two sides of the rule
    text = SymbolState({}, 0, 1.0, 0, 0, {"ret": ret, "ends": ends, "counts": counts}).to_json()
    assert ret.tobytes() in _stream(text, "ret")  # a stored block holds the bytes verbatim
    assert len(_stream(text, "ends")) < 0.8 * ends.nbytes
    assert len(_stream(text, "counts")) < 0.05 * counts.nbytes
    arrays = _reference_arrays(text)
    for name, arr in (("ret", ret), ("ends", ends), ("counts", counts)):
        assert arrays[name].tobytes() == arr.tobytes(), name


def test_arrays_under_512_bytes_are_stored_as_they_are_and_from_512_bytes_deflated() -> None:
    below, at = np.zeros(63), np.zeros(64)  # 504 and 512 bytes of zeros: deflate would shrink either
    text = SymbolState({}, 0, 1.0, 0, 0, {"below": below, "at": at, "one": np.array([0.5])}).to_json()
    assert below.tobytes() in _stream(text, "below")
    assert np.array([0.5]).tobytes() in _stream(text, "one")
    assert len(_stream(text, "at")) < 64
    assert _reference_arrays(text)["at"].tobytes() == at.tobytes()


def test_an_array_whose_start_is_random_and_rest_is_zeros_still_reads_back() -> None:
    rng = np.random.default_rng(8)
    mixed = np.concatenate([rng.normal(size=256), np.zeros(10_000)])  # the rule looks at the first 2,048 bytes only
    doubles = rng.normal(size=(3, 300))  # not one-dimensional
    back = SymbolState.from_json(SymbolState({}, 0, 1.0, 0, 0, {"mixed": mixed, "doubles": doubles}).to_json())
    assert back.arrays["mixed"].tobytes() == mixed.tobytes()
    assert back.arrays["doubles"].tobytes() == doubles.tobytes()


@pytest.mark.parametrize("names", [[], ["a"], ['quo"te', "back\\slash", "naïve", "tab\t", "z", "A"]])
def test_the_text_is_the_compact_sorted_json_of_its_own_document_whatever_the_array_names(names: list[str]) -> None:
    rng = np.random.default_rng(9)
    state = SymbolState({"k": "v\"", "a": [1, 2]}, 5, -0.0, 3, 2,
                        {name: rng.normal(size=k + 1) for k, name in enumerate(names)})
    text = state.to_json()
    doc = json.loads(text)
    assert text == json.dumps(doc, separators=(",", ":"), sort_keys=True)
    assert sorted(doc["arrays"]) == sorted(names)
    back = SymbolState.from_json(text)
    assert all(back.arrays[n].tobytes() == state.arrays[n].tobytes() for n in names)
