"""The BUY/SELL/HOLD rule set: order of the rules, thresholds, reason texts; the udx public surface."""

from __future__ import annotations

import math

import pytest

from udx.signal_rule import RuleConfig, decide

NAN = math.nan


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"stat": 8.044285, "threshold": 3.82855, "index": 5},
         ("SELL", "jump up: LM 8.04 > 3.83 (alpha 0.01); fade it")),
        ({"stat": -5.5, "threshold": 4.361799},
         ("BUY", "jump down: LM -5.50 < -4.36 (alpha 0.01); fade it")),
        ({"stat": 9.0, "threshold": 4.36, "vpin": 0.41234, "vpin_cdf": 0.95},
         ("HOLD", "toxic flow: VPIN CDF 0.95 >= 0.90 (VPIN 0.412)")),
        ({"stat": 1.0, "threshold": 4.36, "z": 2.31, "intensity": 2.75},
         ("BUY", "momentum up: standardized return 2.31 >= 2.00, trade intensity z 2.75 >= 2.00")),
        ({"stat": 1.0, "threshold": 4.36, "z": -3.0, "intensity": 2.0},
         ("SELL", "momentum down: standardized return -3.00 <= -2.00, trade intensity z 2.00 >= 2.00")),
        ({"stat": 1.0, "threshold": 4.36, "z": 3.0, "intensity": 1.9},
         ("HOLD", "no signal: |LM| 1.00 <= 4.36, standardized return 3.00, intensity z 1.90")),
        ({"stat": 4.361799, "threshold": 4.361799},
         ("HOLD", "no signal: |LM| 4.36 <= 4.36, standardized return n/a, intensity z n/a")),
        ({"stat": NAN, "threshold": 4.36, "index": 120},
         ("HOLD", "no signal: LM window not full (120 of 314 returns)")),
        ({"stat": NAN, "threshold": 4.36},
         ("HOLD", "no signal: LM undefined (zero bipower variation in the window)")),
        ({"stat": 9.0, "threshold": NAN},
         ("HOLD", "no signal: LM 9.00, threshold undefined (fewer than 3 bars per session)")),
        ({"stat": NAN, "threshold": 4.36, "vpin_cdf": NAN, "z": NAN, "intensity": 5.0},
         ("HOLD", "no signal: LM undefined (zero bipower variation in the window)")),
    ],
)
def test_rules_fire_in_order_with_reasons(kwargs: dict, expected: tuple[str, str]) -> None:
    args = {"index": 400, "window": 314, **kwargs}
    assert decide(args.pop("stat"), args.pop("threshold"), **args) == expected


def test_thresholds_are_configurable() -> None:
    strict = RuleConfig(vpin_cdf_hold=0.99, momentum_z=3.0, intensity_z=1.0, alpha=0.05)
    assert decide(1.0, 4.0, index=400, window=314, vpin_cdf=0.95, z=3.5, intensity=1.5, config=strict)[0] == "BUY"
    assert "alpha 0.05" in decide(5.0, 4.0, index=400, window=314, config=strict)[1]


def test_public_api() -> None:
    import udx

    assert sorted(udx.__all__) == sorted(
        ["AcdFit", "Bars", "GarchFit", "RuleConfig", "Session", "SignalConfig", "StateError", "SymbolState",
         "TransformSummary", "acd_psi", "bars", "bns_stat", "bns_test", "bvc_buy_fraction", "decide",
         "default_window", "fit_acd", "fit_garch", "garch_variance", "intensity_zscore", "jump_flags",
         "lee_mykland_stat", "lm_threshold", "parse_session", "process_symbol", "run_transform",
         "session_bounds", "signal_config", "vpin"]
    )
    assert all(hasattr(udx, name) for name in udx.__all__)
    fit = udx.fit_garch([0.01, -0.02, 0.015, -0.005] * 100)
    assert {"omega", "alpha", "beta", "loglik", "converged"} <= set(type(fit).__slots__)


def test_decide_all_gives_the_texts_of_decide() -> None:
    import numpy as np

    from udx.signal_rule import decide_all

    rng = np.random.default_rng(0)
    n = 3000

    def col(scale: float) -> list[float]:
        v = rng.normal(0, scale, n)
        v[rng.random(n) < 0.1] = np.nan
        return v.tolist()

    lm, z, iz, vc = col(3.0), col(2.0), col(2.0), (rng.random(n) * 1.1).tolist()
    vc = [math.nan if v > 1.0 else v for v in vc]
    thr = [4.0] * (n - 5) + [math.nan] * 5
    vp = rng.random(n).tolist()
    cfg = RuleConfig(vpin_cdf_hold=0.97)
    got = decide_all(lm, thr, first_index=300, window=310, z=z, intensity=iz, vpin=vp, vpin_cdf=vc, config=cfg)
    want = [decide(lm[t], thr[t], index=300 + t, window=310, z=z[t], intensity=iz[t], vpin=vp[t],
                   vpin_cdf=vc[t], config=cfg) for t in range(n)]
    assert list(zip(*got, strict=True)) == want
