"""The drawing half of the chart tool: matplotlib (Agg backend, no display) turns one symbol's bar arrays
into PNG bytes.

It imports nothing of the server, so a chart worker process (``server/chart_worker.py``) starts with
matplotlib and numpy only; the query half (``server/tools/chart.py``) runs in the server. The same arrays
give the same bytes wherever they are drawn.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["ChartSeries", "draw_chart"]

_MARKERS = {"BUY": ("^", "tab:green"), "SELL": ("v", "tab:red")}


@dataclass(frozen=True)
class ChartSeries:
    """What a chart draws: one value per bar, oldest first (NaN where a value is missing).

    Attributes
    ----------
    symbol, bar_seconds
        For the title.
    ends
        Bar ends, ns since the epoch (int64).
    close, vpin, bid, ask
        Close price, VPIN, and the NBBO in force at each bar's end (float64).
    jumps
        Whether a jump was detected in the bar (bool).
    signals
        ``"BUY"``, ``"SELL"``, ``"HOLD"`` or ``None`` per bar.
    width, height
        Pixels.
    """

    symbol: str
    bar_seconds: int
    ends: npt.NDArray[np.int64]
    close: npt.NDArray[np.float64]
    vpin: npt.NDArray[np.float64]
    jumps: npt.NDArray[np.bool_]
    signals: list[str | None]
    bid: npt.NDArray[np.float64]
    ask: npt.NDArray[np.float64]
    width: int
    height: int


def draw_chart(series: ChartSeries) -> bytes:
    """Draw ``series``: close price with the bid-ask band, jumps circled, BUY/SELL marked; VPIN below.

    Parameters
    ----------
    series
        The bars to draw (at least one).

    Returns
    -------
    bytes
        The PNG.
    """
    close = series.close
    jumps = series.jumps
    quoted = ~np.isnan(series.bid)
    times = series.ends.astype("datetime64[ns]").astype("datetime64[ms]").astype(object)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    figure, (price_axis, vpin_axis) = plt.subplots(
        2, 1, sharex=True, figsize=(series.width / 100, series.height / 100), dpi=100, height_ratios=(3, 1)
    )
    try:
        if quoted.any():  # gaps (no usable quote) stay empty
            price_axis.fill_between(times, series.bid, series.ask, where=quoted, color="tab:orange", alpha=0.3,
                                    linewidth=0, label="bid-ask")  # fmt: skip
        price_axis.plot(times, close, color="tab:blue", linewidth=1.0, label="close")
        if jumps.any():
            price_axis.scatter(np.array(times)[jumps], close[jumps], s=90, facecolors="none",
                               edgecolors="black", linewidths=1.5, label="jump", zorder=3)  # fmt: skip
        for name, (marker, color) in _MARKERS.items():
            mask = np.array([s == name for s in series.signals])
            if mask.any():
                price_axis.scatter(np.array(times)[mask], close[mask], marker=marker, color=color, s=40,
                                   label=name, zorder=4)  # fmt: skip
        price_axis.set_title(f"{series.symbol}: {series.bar_seconds}s bars, UTC")
        price_axis.set_ylabel("price")
        price_axis.legend(loc="upper left", fontsize="small")
        price_axis.grid(alpha=0.3)
        vpin_axis.plot(times, series.vpin, color="tab:purple", linewidth=1.0)
        vpin_axis.set_ylabel("VPIN")
        vpin_axis.set_ylim(0, 1)
        vpin_axis.grid(alpha=0.3)
        vpin_axis.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d %H:%M"))
        figure.autofmt_xdate()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
    finally:
        plt.close(figure)
    return buffer.getvalue()
