"""Microstructure signal kernels, model fits and the incremental transform (spec/signals.md).

For notebooks::

    import numpy as np
    import udx

    opens, closes = udx.session_bounds("09:30-16:00 America/New_York", start_ns, end_ns)
    b = udx.bars(ts_ns, price, size, opens, closes, 60 * 10**9)   # 1-minute previous-tick bars
    K = udx.default_window(390)                                    # ceil(sqrt(252 * 390)) = 314
    L = udx.lee_mykland_stat(b.log_return, K)                      # §2.4, highfrequency scale
    jumps = udx.jump_flags(L, udx.lm_threshold(390, 0.01))
    z_bns = udx.bns_stat(b.log_return, 390)                        # §3: ratio, max-adjusted, tripower
    fit = udx.fit_garch(b.log_return)                              # §4: fit.omega, .alpha, .beta, .loglik
    sigma2, ll = udx.garch_variance(b.log_return, fit.omega, fit.alpha, fit.beta)
    acd = udx.fit_acd(durations)                                   # §5: exponential QMLE of ACD(1,1)
    iz = udx.intensity_zscore(b.n_trades, 60)                      # §7
    v, v_cdf = udx.vpin(closes_with_p0, volumes, adv / 50, 50)     # §6: BVC VPIN and its causal CDF

``fit_garch`` and ``fit_acd`` return a :class:`GarchFit` / :class:`AcdFit` with ``omega``, ``alpha``,
``beta``, ``loglik`` (in the data's own units) and ``converged``; they standardize internally, so
intraday returns of order 1e-4 fit as well as percent returns. :func:`process_symbol` computes every
``trading_signals`` column of one symbol incrementally from trades, and :func:`run_transform` does that for
every symbol in a :class:`sql.backend.Storage`, writing ``trading_signals``, ``model_params`` and
``signal_state``. The BUY/SELL/HOLD rule set is documented in :mod:`udx.signal_rule` (a research signal, not
advice).

Kernels are compiled with numba; set ``UDX_DISABLE_NUMBA=1`` (or ``NUMBA_DISABLE_JIT=1``) to run their
plain-Python twins.
"""

from udx.acd import AcdFit, acd_psi, fit_acd
from udx.bars import Bars, bars
from udx.bns import bns_stat, bns_test
from udx.garch import GarchFit, fit_garch, garch_variance
from udx.intensity import intensity_zscore
from udx.lee_mykland import default_window, jump_flags, lee_mykland_stat, lm_threshold
from udx.pipeline import SignalConfig, process_symbol
from udx.sessions import Session, parse_session, session_bounds
from udx.signal_rule import RuleConfig, decide
from udx.state import StateError, SymbolState
from udx.transform import TransformSummary, run_transform, signal_config
from udx.vpin import bvc_buy_fraction, vpin

__all__ = [
    "AcdFit",
    "Bars",
    "GarchFit",
    "RuleConfig",
    "Session",
    "SignalConfig",
    "StateError",
    "SymbolState",
    "TransformSummary",
    "acd_psi",
    "bars",
    "bns_stat",
    "bns_test",
    "bvc_buy_fraction",
    "decide",
    "default_window",
    "fit_acd",
    "fit_garch",
    "garch_variance",
    "intensity_zscore",
    "jump_flags",
    "lee_mykland_stat",
    "lm_threshold",
    "parse_session",
    "process_symbol",
    "run_transform",
    "session_bounds",
    "signal_config",
    "vpin",
]
