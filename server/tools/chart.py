"""A PNG of one symbol's bars: close price with jumps and BUY/SELL signals marked, VPIN below; where quotes are
stored, the NBBO in force at each bar's end as a bid-ask band behind the price.

For clients that show images, and for people who would rather look than read. This module reads the bars;
``server/tools/chart_draw.py`` draws them (matplotlib's Agg backend, imported on the first chart), in the
server's chart worker processes (``server/chart_pool.py``) so that drawing never holds the server's GIL.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np

from server.arguments import iso_utc, normalize_symbol, parse_window
from server.models import ChartInfo
from server.tools.chart_draw import ChartSeries, draw_chart
from server.tools.market import UnknownSymbol
from sql.backend import Storage

__all__ = ["render_chart"]


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
    draw: Callable[[ChartSeries], bytes] = draw_chart,
) -> tuple[bytes, ChartInfo]:
    """Render the newest ``max_bars`` bars of ``symbol`` in the window; return the PNG and what it shows.

    The bars are read here; ``draw`` turns them into the PNG: in this process by default, in a chart worker
    process with ``ChartPool.draw`` (``server/chart_pool.py``), as the server does.
    """
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
    png = draw(ChartSeries(symbol=symbol, bar_seconds=bar_seconds, ends=ends, close=close, vpin=vpin, jumps=jumps,
                           signals=signals, bid=bid, ask=ask, width=width, height=height))  # fmt: skip
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
    return png, info
