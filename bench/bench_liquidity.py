"""Bar liquidity (issue 19 points 3 and 5): accuracy against the simulator's truth, and ``run_transform`` end to
end with quotes against without, in the same process.

Run: ``.venv/bin/python -m bench.bench_liquidity [--trades 2000000] [--symbols 100] [--ratio 4] [--hours 3]
[--no-write]``. Prints a Markdown section and replaces it in ``BENCHMARKS.md``; never asserts.

Accuracy: the simulator (quote dynamics on, truth recorded) over ``--hours`` hours of its stocks; per trade,
Lee-Ready's side against the aggressor side it drew, over the prints the transform signs with the
``sets_price`` flags it passes (:func:`transform_prints`: only price-setting prints move the tick state); per one-minute bar, the buy share of volume by Lee-Ready
(``buy / (buy + sell)`` of :func:`udx.liquidity.liquidity_bars`) and by bulk volume classification (BVC,
Easley, López de Prado and O'Hara 2012: ``Φ(ΔP / σ_ΔP)`` of the bar's price change, σ over the sample's bars)
against the true buy share; the effective spread (volume-weighted over the bars) against the true one, measured
from the book's midpoint the trade printed against.

Speed: synthetic stock trades (``bench.bench_signals``'s walk and sale-condition mix) and quotes around the same
path at ``--ratio`` quotes per trade (default 4: Polygon's average WebSocket message rates, ~8,000 quote and ~2,000
trade messages a second, polygon notes §1.5; the 15 of consolidated-NBBO equities would make the load step
dominate this box), loaded into three DuckDB files (not timed), then one ``run_transform`` each: the transform
without bar liquidity (the storage hides ``read_quotes_many``), with bar liquidity and no quotes stored, and
with the quotes.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bench import report
from bench.bench_signals import synthetic, trades_table
from bench.storage_without import StorageWithout
from ingest.synthetic_market import DEFAULT_SYMBOLS, SyntheticMarket
from sql.contract import QUOTES_SCHEMA
from sql.settings import Settings
from udx.liquidity import liquidity_bars
from udx.nbbo import UNUSABLE, prevailing_quotes
from udx._chunk_read import arrays_of, valid_prints
from udx.trade_sign import lee_ready
from udx.transform import run_transform
from udx.vpin import bvc_buy_fraction

TITLE = "Bar liquidity in the transform (issue 19 points 3 and 5)"
NS = 10**9
BAR_NS = 60 * NS
STALE_NS = 300 * NS
END = 1_750_000_000 * NS - (1_750_000_000 % 60) * NS


def transform_prints(trades: pa.Table, market: str = "stocks") -> tuple[np.ndarray, np.ndarray]:
    """The rows of one symbol's ``trades`` the transform signs, and their ``sets_price`` flags, decided as it does.

    Parameters
    ----------
    trades
        One symbol's trades in time order with ``ts_ns``, ``price``, ``size`` and, for stocks, ``conditions``
        (and ``correction`` when present).
    market
        ``"stocks"`` (Polygon's eligibility of each print's conditions and correction) or ``"crypto"`` (all).

    Returns
    -------
    rows : numpy.ndarray of int64
        The indices of the prints :func:`udx._chunk_read.valid_prints` keeps (it drops those that neither set the
        price nor count in volume, and unusable prices or sizes), as ``udx.liquidity_step`` receives them.
    sets_price : numpy.ndarray of bool
        Per kept print, whether it may set the last sale: the flags the transform passes to
        :func:`udx.trade_sign.lee_ready` (only those prints move the tick state).
    """
    ts, px, sz, price_ok, volume_ok = arrays_of(trades, market)
    rows, _, _, sets_price, _ = valid_prints(np.arange(ts.size, dtype=np.int64), px, sz, price_ok, volume_ok)
    return rows, sets_price


def accuracy(hours: float, seed: int = 21) -> list[str]:
    """Lee-Ready per trade and per bar beside BVC per bar, and the effective spread, against the truth."""
    m = SyntheticMarket(seed, 40.0, quote_dynamics=True, record_truth=True)
    start = END - int(hours * 3600) * NS
    trades, quotes = m.history(start, END)
    stocks = [s.symbol for s in DEFAULT_SYMBOLS if s.market == "stocks"]
    hits = total = hits_at = total_at = dropped = non_setting = moved = former_hits = 0
    lr_err, bvc_err, eff_rel = [], [], []
    for symbol in stocks:
        t = trades.filter(pc.equal(trades["symbol"], symbol))
        q = quotes.filter(pc.equal(quotes["symbol"], symbol))
        rows, sets_price = transform_prints(t)
        dropped += t.num_rows - rows.size
        truth = m.trade_truth(symbol).take(rows)
        ts, px, sz = (t[c].to_numpy()[rows] for c in ("ts_ns", "price", "size"))
        p = prevailing_quotes(ts, q["ts_ns"].to_numpy(), q["bid_price"].to_numpy(), q["ask_price"].to_numpy(),
                              STALE_NS)
        s = lee_ready(px, p.bid, p.ask, p.flags, sets_price=sets_price)
        former = lee_ready(px, p.bid, p.ask, p.flags).side  # every print moving the tick state (before 'ticks')
        non_setting, moved = non_setting + int((~sets_price).sum()), moved + int((former != s.side).sum())
        side = truth["side"].to_numpy()
        former_hits += int((former == side).sum())
        at = truth["at_quote"].to_numpy()
        right = s.side == side
        hits, total, hits_at, total_at = hits + int(right.sum()), total + right.size, \
            hits_at + int(right[at].sum()), total_at + int(at.sum())
        starts = np.arange(start, END, BAR_NS)
        ends = starts + BAR_NS
        lb = liquidity_bars(starts, ends, ts, px, sz, s.side, p.bid, p.ask, p.flags, q["ts_ns"].to_numpy(),
                            q["bid_price"].to_numpy(), q["ask_price"].to_numpy(), STALE_NS)
        k = np.searchsorted(ts, ends, side="left")
        first = np.searchsorted(ts, starts, side="left")
        true_buy = np.array([sz[a:b][side[a:b] > 0].sum() for a, b in zip(first, k, strict=True)])
        vol = np.array([sz[a:b].sum() for a, b in zip(first, k, strict=True)])
        close = np.array([px[b - 1] if b > 0 else np.nan for b in k])
        dp = np.diff(np.concatenate(([px[0]], close)))
        ok = vol > 0
        sigma = float(np.std(dp[ok], ddof=1))
        bvc = bvc_buy_fraction(dp, sigma)  # the project's BVC (udx.vpin), Phi(dp / sigma)
        lr = lb.buy_volume / (lb.buy_volume + lb.sell_volume)
        lr_err.append(np.abs(lr[ok] - true_buy[ok] / vol[ok]))
        bvc_err.append(np.abs(bvc[ok] - true_buy[ok] / vol[ok]))
        usable = (p.flags & UNUSABLE) == 0
        bar_eff_vol = np.array([sz[a:b][usable[a:b]].sum() for a, b in zip(first, k, strict=True)])
        good = bar_eff_vol > 0
        measured = float((lb.effective_spread[good] * bar_eff_vol[good]).sum() / bar_eff_vol[good].sum())
        mid = (truth["book_bid"].to_numpy() + truth["book_ask"].to_numpy()) / 2
        true = float((sz * 2 * np.abs(px - mid) / mid).sum() / sz.sum())
        eff_rel.append((symbol, measured, true))
    lr_all, bvc_all = np.concatenate(lr_err), np.concatenate(bvc_err)
    worst = max(abs(me / tr - 1) for _, me, tr in eff_rel)
    lines = [
        f"Accuracy: the simulator (seed {seed}, 40 trades/s, quote dynamics on) over {hours:g} hours, its "
        f"{len(stocks)} stock symbols, {total:,} trades in {lr_all.size:,} one-minute bars: the prints the "
        f"transform signs ({dropped:,} it drops: neither setting the price nor counting in volume), with the "
        f"`sets_price` flags it passes to `lee_ready` (only price-setting prints move the tick state). "
        f"{non_setting:,} of them may not set the price; {moved:,} sides differ from the former rule (every print "
        f"moving the tick state), which signed {former_hits / total:.3f} of all trades right.",
        "",
        "| measure | Lee-Ready (quotes) | BVC (bar price change) |",
        "|---|---|---|",
        f"| trades signed right, where they printed at the bid or ask ({total_at:,}) | {hits_at / total_at:.3f} "
        "| - |",
        f"| trades signed right, all | {hits / total:.3f} | - |",
        f"| per-bar buy share of volume: mean absolute error | {lr_all.mean():.3f} | {bvc_all.mean():.3f} |",
        f"| per-bar buy share: bars within 0.1 of the truth | {(lr_all <= 0.1).mean():.3f} "
        f"| {(bvc_all <= 0.1).mean():.3f} |",
        "",
        "Effective spread (volume-weighted over the bars, trades with a usable prevailing quote) against the true "
        "one (every trade, 2|p - m|/m with m the midpoint of the book it printed against): "
        + ", ".join(f"{sym} {me * 1e4:.2f} vs {tr * 1e4:.2f} bp" for sym, me, tr in eff_rel)
        + f"; largest relative difference {worst:.2%} (target ≤ 2 %: {'met' if worst <= 0.02 else 'NOT met'}).",
    ]
    return lines


def quotes_table(data: list[tuple[np.ndarray, ...]], symbols: list[str], ratio: int, seed: int = 4) -> pa.Table:
    """``ratio`` quotes per trade per symbol around its trade path: mid at the previous trade, 1-3 cent spreads."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[Any]] = {name: [] for name in ("symbol", "ts", "bid", "ask", "bs", "as")}
    for (ts, px, _), symbol in zip(data, symbols, strict=True):
        n = ts.size * ratio
        qts = np.sort(rng.integers(int(ts[0]) - NS, int(ts[-1]), n)).astype(np.int64)
        mid = px[np.clip(np.searchsorted(ts, qts, side="left") - 1, 0, None)]
        half = rng.choice(np.array([0.005, 0.01, 0.015]), n)
        parts["symbol"].append(np.full(n, symbol, object))
        parts["ts"].append(qts)
        parts["bid"].append(np.round(mid - half, 2))
        parts["ask"].append(np.round(mid + half, 2))
        parts["bs"].append(rng.integers(1, 20, n) * 100.0)
        parts["as"].append(rng.integers(1, 20, n) * 100.0)
    c = {k: np.concatenate(v) for k, v in parts.items()}
    n = c["ts"].size
    values = {"market": pa.array(["stocks"] * n), "symbol": pa.array(c["symbol"], pa.string()),
              "ts_ns": c["ts"], "bid_price": c["bid"], "bid_size": c["bs"], "ask_price": c["ask"],
              "ask_size": c["as"], "bid_exchange": pa.nulls(n, pa.int32()), "ask_exchange": pa.nulls(n, pa.int32()),
              "conditions": pa.nulls(n, pa.string()), "sequence": np.arange(n, dtype=np.int64),
              "tape": pa.nulls(n, pa.int32()), "received_ns": c["ts"], "source": pa.array(["sim"] * n)}
    return pa.table({f.name: values[f.name] for f in QUOTES_SCHEMA}, schema=QUOTES_SCHEMA)


def _warm_up(storage_class: Any) -> None:
    """Compile every kernel of the three cases (one small transform with quotes), so no case pays for it."""
    data = synthetic(2, 3_000, seed=9)
    with tempfile.TemporaryDirectory() as tmp:
        st = Settings(_env_file=None, duckdb_path=Path(tmp) / "warm.duckdb",  # type: ignore[call-arg]
                      session_stocks="00:00-24:00 UTC")
        storage = storage_class.open(st)
        storage.apply_schema()
        storage.append_trades(trades_table(data, ["W0", "W1"]))
        storage.append_quotes(quotes_table(data, ["W0", "W1"], 2))
        run_transform(storage, st)
        storage.close()


def transform_runs(n_trades: int, n_symbols: int, ratio: int) -> tuple[list[tuple[str, Any]], int]:
    """One ``run_transform`` per case on its own DuckDB file; the summaries and the quotes stored."""
    from sql.duckdb_backend import DuckDBStorage

    _warm_up(DuckDBStorage)
    data = synthetic(n_symbols, n_trades // n_symbols, seed=2)
    symbols = [f"S{i:04d}" for i in range(n_symbols)]
    trades = trades_table(data, symbols)
    quotes = quotes_table(data, symbols, ratio)
    del data
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for case in ("without bar liquidity", "bar liquidity, no quotes stored", "bar liquidity with quotes"):
            st = Settings(_env_file=None, duckdb_path=Path(tmp) / f"{len(out)}.duckdb",  # type: ignore[call-arg]
                          session_stocks="00:00-24:00 UTC")
            storage = DuckDBStorage.open(st)
            storage.apply_schema()
            for lo in range(0, trades.num_rows, 2_000_000):
                storage.append_trades(trades.slice(lo, 2_000_000))
            if case.endswith("with quotes"):
                for lo in range(0, quotes.num_rows, 2_000_000):
                    storage.append_quotes(quotes.slice(lo, 2_000_000))
            target = StorageWithout(storage, "read_quotes_many") if case.startswith("without") else storage
            out.append((case, run_transform(target, st)))  # type: ignore[arg-type]
            storage.close()
    return out, quotes.num_rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trades", type=int, default=2_000_000)
    parser.add_argument("--symbols", type=int, default=100)
    parser.add_argument("--ratio", type=int, default=4, help="quotes per trade in the speed run")
    parser.add_argument("--hours", type=float, default=3.0, help="simulated hours of the accuracy run")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md as it is")
    args = parser.parse_args()
    lines = [
        f"`.venv/bin/python -m bench.bench_liquidity --trades {args.trades} --symbols {args.symbols} "
        f"--ratio {args.ratio} --hours {args.hours:g}` (bench/bench_liquidity.py), {report.now_utc()}.",
        "",
        f"- Machine: {report.machine()}; load average at the start {report.load_average()} (a shared box: "
        "other jobs were running)",
        f"- {report.versions('numba', 'numpy', 'duckdb', 'pyarrow')}",
        "",
    ]
    lines += accuracy(args.hours)
    runs, n_quotes = transform_runs(args.trades, args.symbols, args.ratio)
    base = runs[0][1]
    lines += [
        "",
        f"`run_transform` end to end (read, signals, bar liquidity, write; wall time, this process) on "
        f"{args.trades:,} synthetic stock trades of {args.symbols} symbols over 2 days; the quotes case stores "
        f"{n_quotes:,} quotes ({n_quotes / args.trades:.1f} per trade). Same process, one file per case.",
        "",
        "| case | trades | bars | seconds | trades/s | vs without |",
        "|---|---|---|---|---|---|",
    ]
    for case, summary in runs:
        rate = summary.trades / summary.seconds
        lines.append(f"| {case} | {summary.trades:,} | {summary.bars:,} | {summary.seconds:.2f} | {rate:,.0f} | "
                     f"{base.seconds / summary.seconds:.2f}x |")
    with_quotes = runs[-1][1]
    rate = with_quotes.trades / with_quotes.seconds
    lines += ["", f"Target (issue 19): `transform --once` with quotes ≥ 1M trades/s end to end: "
              f"{'met' if rate >= 1e6 else 'NOT met'} ({rate:,.0f} trades/s)."]
    text = "\n".join(lines)
    report.publish(TITLE, text, write=not args.no_write)


if __name__ == "__main__":
    main()
