"""Independent references for the signals pipeline (issue 16): plain Python written from the papers, from
``spec/signals.md`` and from the README's "Signals" section (the issue-13 amendments), never from ``udx/`` nor
from ``tests/naive.py``. Nothing here imports the code it checks; the only shared input is data (the shipped
condition table ``sql/reference/polygon_stock_trade_conditions.csv``).

Modules: :mod:`sessions` (trading sessions from ``"HH:MM-HH:MM Zone"``), :mod:`bars` (eligible prints,
previous-tick bars, tested bars and their elapsed-time returns), :mod:`stats` (Lee-Mykland, BNS, trade
intensity, VPIN with its causal CDF, GARCH(1,1) filter and likelihood), :mod:`acd` (ACD(1,1): recursion,
exponential QML, diurnal profile, per-bar columns), :mod:`profile` (the intraday volatility profile),
:mod:`rule` (BUY/SELL/HOLD and the reason), :mod:`pipeline` (one symbol's rows), :mod:`liquidity` (depth
imbalance, Amihud, Roll, Kyle).

Slow and obvious on purpose: every window is recomputed from scratch; no running sums, no carried state.
"""
