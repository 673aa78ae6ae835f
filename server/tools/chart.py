"""A PNG of one symbol's bars: close price with jumps and BUY/SELL signals marked, VPIN below; where quotes are
stored, the NBBO in force at each bar's end as a bid-ask band behind the price.

For clients that show images, and for people who would rather look than read. Rendering uses matplotlib's
Agg backend (no display), imported on the first chart so that start-up stays fast; the figure is closed
after rendering so a long-running server does not grow.
"""

from __future__ import annotations

import io
from collections import Counter

import numpy as np

from server.arguments import iso_utc, normalize_symbol, parse_window
from server.models import ChartInfo
from server.tools.market import UnknownSymbol
from sql.backend import Storage

__all__ = ["render_chart"]

_MARKERS = {"BUY": ("^", "tab:green"), "SELL": ("v", "tab:red")}


def render_chart(
    storage: Storage,
    *,
    symbol: str,
    bar_seconds: int,
    max_bars: int,
    hours_back: float | None = None,
    start: str | int | None = None,
    end: str | int | None = None,
    width: int = 1000,
    height: int = 600,
) -> tuple[bytes, ChartInfo]:
    """Render the newest ``max_bars`` bars of ``symbol`` in the window; return the PNG and what it shows."""
    symbol = normalize_symbol(symbol)
    window = parse_window(hours_back, start, end)
    params = {"symbol": symbol, "bar_seconds": bar_seconds, "start_ns": window.start_ns, "end_ns": window.end_ns}
    rows = storage.query("chart_series", params, max_bars).rows[::-1]
    if not rows:
        if not storage.query("known_symbols", {"symbols": [symbol]}, 1).rows:
            raise UnknownSymbol(f"unknown symbol {symbol!r}: no trades are stored for it")
        raise ValueError(f"no bars for {symbol!r} in that window: check the time range")
    ends = np.array([r[0] for r in rows], dtype="int64")
    close = np.array([r[1] for r in rows], dtype=float)
    vpin = np.array([np.nan if r[2] is None else r[2] for r in rows], dtype=float)
    jumps = np.array([bool(r[3]) for r in rows])
    signals = [r[5] for r in rows]
    bid = np.array([np.nan if r[6] is None else r[6] for r in rows], dtype=float)
    ask = np.array([np.nan if r[7] is None else r[7] for r in rows], dtype=float)
    quoted = ~np.isnan(bid)
    times = ends.astype("datetime64[ns]").astype("datetime64[ms]").astype(object)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    figure, (price_axis, vpin_axis) = plt.subplots(
        2, 1, sharex=True, figsize=(width / 100, height / 100), dpi=100, height_ratios=(3, 1)
    )
    try:
        if quoted.any():  # gaps (no usable quote) stay empty
            price_axis.fill_between(times, bid, ask, where=quoted, color="tab:orange", alpha=0.3,
                                    linewidth=0, label="bid-ask")
        price_axis.plot(times, close, color="tab:blue", linewidth=1.0, label="close")
        if jumps.any():
            price_axis.scatter(np.array(times)[jumps], close[jumps], s=90, facecolors="none",
                               edgecolors="black", linewidths=1.5, label="jump", zorder=3)  # fmt: skip
        for name, (marker, color) in _MARKERS.items():
            mask = np.array([s == name for s in signals])
            if mask.any():
                price_axis.scatter(np.array(times)[mask], close[mask], marker=marker, color=color, s=40,
                                   label=name, zorder=4)  # fmt: skip
        price_axis.set_title(f"{symbol}: {bar_seconds}s bars, UTC")
        price_axis.set_ylabel("price")
        price_axis.legend(loc="upper left", fontsize="small")
        price_axis.grid(alpha=0.3)
        vpin_axis.plot(times, vpin, color="tab:purple", linewidth=1.0)
        vpin_axis.set_ylabel("VPIN")
        vpin_axis.set_ylim(0, 1)
        vpin_axis.grid(alpha=0.3)
        vpin_axis.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M"))
        figure.autofmt_xdate()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    finally:
        plt.close(figure)
    info = ChartInfo(
        symbol=symbol,
        bars=len(rows),
        start=iso_utc(int(ends[0])),
        end=iso_utc(int(ends[-1])),
        jumps=int(jumps.sum()),
        signals=dict(Counter(signals)),
        quoted_bars=int(quoted.sum()),
        width=width,
        height=height,
    )
    return buffer.getvalue(), info
