"""A new symbol's carried state (``udx.pipeline.initial_state`` as the first bars leave it) and the fingerprint
that decides whether a stored state may be continued (``SignalConfig.fingerprint``), on
test_pipeline_small.py's four one-hour sessions (scripts/mutation group ``pipeline-fast``, seconds a mutant).

Expected values come from the reference (``tests/reference/acd.py``'s windows of adjusted durations), from the
bars themselves (their trade counts) and from the state format (``udx/state.py``: times in ns and counts as
``i8``, doubles as ``f8``).
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from reference import acd as racd
from reference import bars as rb
from reference.sessions import nominal_bars, sessions
from sql.settings import Settings
from test_pipeline_small import FINAL, NS, SESSIONS, SPEC, one_pass, prints_of, signal_config
from udx.state import SymbolState
from udx.transform import signal_config as settings_config

#: arrays of the state that hold ns times, positions or counts (exact integers: ns times of prints pass 2**53)
INTEGER_ARRAYS = ("ret_end", "n_tested", "garch_i", "vp_cur", "vb_i", "acd_i", "acd_ts", "sea_i", "sea_ntest")


def test_a_new_symbol_carries_the_trade_counts_of_its_first_bars() -> None:
    """Fewer bars than the trailing intensity window: the state carries each of their counts, nothing more."""
    cfg = signal_config()
    first = one_pass("LIQ", final=SESSIONS[0][0] + 5 * 60 * NS)
    n_trades = first.columns["n_trades"]
    assert n_trades.size == 5 < cfg.intensity_lookback
    assert first.state.arrays["counts"].tolist() == n_trades.astype(float).tolist()
    ts, _, _, _, cv = prints_of("LIQ")  # the counts are the prints that count in volume, per bar
    ends = first.columns["bar_end_ns"]
    starts = np.concatenate(([SESSIONS[0][0]], ends[:-1]))
    assert n_trades.tolist() == [int(((ts >= a) & (ts < b) & cv).sum()) for a, b in zip(starts, ends, strict=True)]


def test_the_state_keeps_ns_times_and_counts_as_integers() -> None:
    """The state's ns times, positions and counts stay int64 (``i8`` in the stored JSON), from a new symbol's
    first bars on and through a round trip; its statistics are doubles (``f8``)."""
    state = one_pass("LIQ").state
    stored = json.loads(state.to_json())["arrays"]
    for name in INTEGER_ARRAYS:
        assert state.arrays[name].dtype == np.int64, name
        assert stored[name].startswith("i8:"), name
    for name in ("ret", "counts", "bns", "garch", "vp_acc", "vb_hist", "acd_f", "acd_x", "sea_f"):
        assert stored[name].startswith("f8:"), name
    back = SymbolState.from_json(state.to_json())
    for name in INTEGER_ARRAYS:
        assert back.arrays[name].dtype == np.int64, name
        np.testing.assert_array_equal(back.arrays[name], state.arrays[name], err_msg=name)
    # the ACD window's times are print times in ns, which float64 cannot all hold
    t = state.arrays["acd_ts"]
    assert t.size and (t.astype(np.float64).astype(np.int64) != t).any()
    ts, _, _, _, _ = prints_of("LIQ")
    assert set(t.tolist()) <= set(ts.tolist())


def _adjusted_before_each_refit(symbol: str) -> list[int]:
    """Adjusted durations available at each session's first event (the reference's windows with no cap and a
    refit at every session: their lengths)."""
    ts, px, sz, sp, cv = prints_of(symbol)
    prints = list(zip(ts.tolist(), px.tolist(), sz.tolist(), sp.tolist(), cv.tolist(), strict=True))
    rows = rb.make_bars(prints, sessions(SPEC, prints[0][0], FINAL), 60 * NS, FINAL)
    _, _, windows = racd.columns(rows, prints, 60 * NS, nominal_bars(SPEC, 60), 1200, 1, 10**9,
                                 [(None, None, None)] * 10)
    return [len(w) for w in windows]


@pytest.mark.parametrize("extra", [0, 1])
def test_the_first_acd_refit_waits_for_acd_min_obs_adjusted_durations(extra: int) -> None:
    """With ``acd_min_obs`` equal to the adjusted durations before a session, that session refits; one more and
    the refit waits for the next session (the count starts at zero)."""
    counts = _adjusted_before_each_refit("LIQ")
    # sessions 3 and 4 (the first session's durations have no profile to adjust them yet)
    assert len(counts) == 2 and 0 < counts[0] < counts[1]
    min_obs = counts[0] + extra
    got = one_pass("LIQ", signal_config(acd_min_obs=min_obs, acd_window=10**9))
    acd = [f.n_obs for f in got.fits if f.model == "acd11"]
    assert acd == [c for c in counts if c >= min_obs] == counts[extra:]


# --- the fingerprint against the settings ------------------------------------------------------------------

#: settings -> a changed value: each changes numbers a carried state holds (windows, grids, depths)
CARRIED = {"bar_seconds": 120, "session_stocks": "09:30-11:30 America/New_York", "lm_window": 11,
           "bns_window": 13, "garch_window": 300, "garch_min_obs": 60, "acd_window": 160, "acd_min_obs": 110,
           "acd_bin_seconds": 600, "intensity_lookback": 12, "seasonal_sessions": 3, "profile_bucket_minutes": 10,
           "profile_min_sessions": 2, "intensity_min_sessions": 3, "vpin_buckets_per_day": 11, "vpin_window": 6,
           "vpin_cdf_window": 60}
#: settings that only decide a row from the numbers (the rule), the threshold's level, or another market
NOT_CARRIED = {"signal_vpin_cdf_hold": 0.8, "signal_momentum_z": 2.5, "signal_intensity_z": 1.0, "lm_alpha": 0.05,
               "session_crypto": "00:00-12:00 UTC", "quote_stale_seconds": 10.0, "roll_window": 20,
               "kyle_window": 10, "transform_lateness_seconds": 7.0}
BASE = {"bar_seconds": 60, "session_stocks": SPEC, "lm_window": 10, "bns_window": 12, "garch_window": 250,
        "garch_min_obs": 50, "acd_window": 150, "acd_min_obs": 100, "acd_bin_seconds": 1200, "intensity_lookback": 10,
        "seasonal_sessions": 2, "profile_bucket_minutes": 15, "profile_min_sessions": 1, "intensity_min_sessions": 2,
        "vpin_buckets_per_day": 10, "vpin_window": 5, "vpin_cdf_window": 50}


def _fingerprint(**changes: object) -> dict:
    return settings_config(Settings(_env_file=None, **{**BASE, **changes}), "stocks").fingerprint()  # type: ignore[arg-type]


@pytest.mark.parametrize(("name", "value"), list(CARRIED.items()))
def test_a_setting_of_the_carried_numbers_changes_the_fingerprint(name: str, value: object) -> None:
    assert _fingerprint(**{name: value}) != _fingerprint()


@pytest.mark.parametrize(("name", "value"), list(NOT_CARRIED.items()))
def test_a_setting_outside_the_carried_numbers_keeps_the_fingerprint(name: str, value: object) -> None:
    assert _fingerprint(**{name: value}) == _fingerprint()


def test_a_stored_state_fits_the_settings_it_was_computed_with() -> None:
    """The fingerprint survives the state's JSON (a stored state is continued, not recomputed, when nothing
    changed) and a changed window no longer fits."""
    state = SymbolState.from_json(one_pass("LIQ").state.to_json())
    state.check_fits(signal_config().fingerprint())
    with pytest.raises(ValueError, match="window"):
        state.check_fits(dataclasses.replace(signal_config(), lm_window=11).fingerprint())
