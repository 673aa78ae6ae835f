"""VPIN by Lee-Ready beside VPIN by bulk volume classification, against the VPIN of the simulator's true sides
(issue 19 point 3), and the two classifiers' per-bar accuracy.

Run: ``.venv/bin/python -m bench.bench_vpin_lr [--hours 24] [--bars-per-bucket 8 1] [--window 50] [--no-write]``. Prints a
Markdown section and replaces it in ``BENCHMARKS.md``; never asserts.

The simulator (quote dynamics on, truth recorded, 24-hour mode) over ``--hours`` hours of its stocks. Per symbol,
one-minute previous-tick bars; one bucket size V = the symbol's mean volume of ``--bars-per-bucket`` bars (EPO's
V = ADV/50 on one-minute bars of a 390-minute session is ~8 bars) and ``--window`` buckets per VPIN value, the
same for all three series; one table per V:

- **true**: each trade's volume on its aggressor side as drawn by the simulator (:func:`udx.vpin_lr`'s buckets);
- **Lee-Ready**: each trade's volume on its Lee-Ready side (:func:`udx.trade_sign.lee_ready` against the
  prevailing quote of :func:`udx.nbbo.prevailing_quotes`, stale limit 300 s, with the transform's ``sets_price``
  flags: :func:`bench.bench_liquidity.transform_prints`); unsigned trades half each;
- **BVC**: Easley, López de Prado and O'Hara (2012) eq. (7) on the bars: ``Φ(ΔP/σ_ΔP)`` of the close-to-close
  change, σ over the sample's bars (:func:`udx.vpin.vpin`; the transform's BVC also scales ΔP by the time-of-day
  profile, not done here).

Per bar (the value of the last bucket completed by its end, bars where all three exist): mean absolute error and
Pearson correlation of each against the true VPIN. Per bar classification accuracy (Easley, López de Prado and
O'Hara 2016's measure): ``1 - Σ|B̂ - B| / Σ V`` over bars, B the true buy volume, B̂ the estimate.
Speed: the Lee-Ready VPIN kernel over all trades against the BVC bucket kernel over the bars, same process.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pyarrow.compute as pc

from bench import report
from bench.bench_liquidity import transform_prints
from ingest.synthetic_market import DEFAULT_SYMBOLS, SyntheticMarket
from udx.nbbo import prevailing_quotes
from udx.trade_sign import lee_ready
from udx.vpin import bvc_buy_fraction, vpin
from udx.vpin_lr import new_state, vpin_lee_ready_bars

TITLE = "VPIN by Lee-Ready beside BVC against the true sides (issue 19 point 3)"
NS = 10**9
BAR_NS = 60 * NS
STALE_NS = 300 * NS
END = 1_750_000_000 * NS - (1_750_000_000 % 60) * NS


def _symbol_series(ts: np.ndarray, px: np.ndarray, sz: np.ndarray, true_side: np.ndarray, lr_side: np.ndarray,
                   start: int, bars_per_bucket: float, window: int) -> dict[str, np.ndarray]:
    """Per bar: true / Lee-Ready / BVC VPIN and buy volumes, and the bar volume."""
    ends = np.arange(start, END, BAR_NS) + BAR_NS
    bar = np.searchsorted(ends, ts, side="right")
    keep = bar < ends.size
    ts, px, sz, true_side, lr_side, bar = ts[keep], px[keep], sz[keep], true_side[keep], lr_side[keep], bar[keep]
    last = np.searchsorted(ts, ends, side="left") - 1
    close = np.where(last >= 0, px[np.maximum(last, 0)], px[0])
    volume = np.bincount(bar, sz, ends.size)
    v_bucket = float(volume.mean()) * bars_per_bucket
    size_v = np.full(ends.size, v_bucket)
    true_v = vpin_lee_ready_bars(bar, true_side, sz, size_v, window, new_state(window))
    lr_v = vpin_lee_ready_bars(bar, lr_side, sz, size_v, window, new_state(window))
    closes = np.concatenate(([px[0]], close))
    bvc_v, _ = vpin(closes, volume, v_bucket, window)
    dp = np.diff(closes)
    bvc_buy = volume * bvc_buy_fraction(dp, float(np.std(dp, ddof=1)))
    true_buy = np.bincount(bar, sz * (true_side > 0), ends.size)
    lr_buy = np.bincount(bar, sz * np.where(lr_side > 0, 1.0, np.where(lr_side < 0, 0.0, 0.5)), ends.size)
    return {"true": true_v, "lr": lr_v, "bvc": bvc_v, "true_buy": true_buy, "lr_buy": lr_buy, "bvc_buy": bvc_buy,
            "volume": volume, "bar": bar, "sz": sz, "lr_side": lr_side, "close": closes, "v_bucket": v_bucket}


def _speed(series: list[dict[str, np.ndarray]], window: int, repeats: int = 5) -> tuple[float, float, int, int]:
    """Best-of-``repeats`` seconds of the Lee-Ready kernel over every trade and the BVC one over every bar."""
    n_trades = sum(s["sz"].size for s in series)
    n_bars = sum(s["volume"].size for s in series)
    lr_best = bvc_best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for s in series:
            vpin_lee_ready_bars(s["bar"], s["lr_side"], s["sz"], np.full(s["volume"].size, s["v_bucket"]), window,
                                new_state(window))
        t1 = time.perf_counter()
        for s in series:
            vpin(s["close"], s["volume"], s["v_bucket"], window)
        t2 = time.perf_counter()
        lr_best, bvc_best = min(lr_best, t1 - t0), min(bvc_best, t2 - t1)
    return lr_best, bvc_best, n_trades, n_bars


def _vpin_table(series: list[dict[str, np.ndarray]], bars_per_bucket: float) -> list[str]:
    """Per-bar error and correlation of the Lee-Ready and BVC VPIN against the true one, for one V."""
    cat = {k: np.concatenate([s[k] for s in series]) for k in ("true", "lr", "bvc")}
    ok = ~(np.isnan(cat["true"]) | np.isnan(cat["lr"]) | np.isnan(cat["bvc"]))
    lines = [
        "",
        f"**V = the mean volume of {bars_per_bucket:g} bar(s)**: {int(ok.sum()):,} bars with all three VPINs (mean "
        f"true VPIN {np.mean(cat['true'][ok]):.4f}).",
        "",
        "| VPIN by | mean abs error vs true (per bar) | correlation with true | mean VPIN |",
        "|---|---|---|---|",
    ]
    for name, key in (("Lee-Ready (per trade)", "lr"), ("BVC (per bar, EPO 2012)", "bvc")):
        err = float(np.mean(np.abs(cat[key][ok] - cat["true"][ok])))
        corr = float(np.corrcoef(cat[key][ok], cat["true"][ok])[0, 1])
        lines.append(f"| {name} | {err:.4f} | {corr:.3f} | {np.mean(cat[key][ok]):.4f} |")
    return lines


def _accuracy_table(series: list[dict[str, np.ndarray]]) -> list[str]:
    """Per-bar buy-volume accuracy of Lee-Ready and BVC against the true sides."""
    cat = {k: np.concatenate([s[k] for s in series]) for k in ("true_buy", "lr_buy", "bvc_buy", "volume")}
    traded = cat["volume"] > 0
    lines = ["", "| buy volume per bar by | accuracy 1 − Σ\\|B̂ − B\\| / ΣV | mean per-bar accuracy |",
             "|---|---|---|"]
    for name, key in (("Lee-Ready", "lr_buy"), ("BVC", "bvc_buy")):
        miss = np.abs(cat[key] - cat["true_buy"])
        lines.append(f"| {name} | {1 - miss.sum() / cat['volume'].sum():.4f} | "
                     f"{np.mean(1 - miss[traded] / cat['volume'][traded]):.4f} |")
    return lines


def run(hours: float, bars_per_bucket: list[float], window: int, seed: int = 23) -> list[str]:
    """The comparison's Markdown lines."""
    m = SyntheticMarket(seed, 40.0, quote_dynamics=True, record_truth=True)
    start = END - int(hours * 3600) * NS
    trades, quotes = m.history(start, END)
    stocks = [s.symbol for s in DEFAULT_SYMBOLS if s.market == "stocks"]
    signed = []
    rule = [0, 0, 0, 0]  # prints that may not set the price, sides the rule changed, right before, right now
    for symbol in stocks:
        t = trades.filter(pc.equal(trades["symbol"], symbol))
        q = quotes.filter(pc.equal(quotes["symbol"], symbol))
        truth = m.trade_truth(symbol)
        if t["trade_id"].to_pylist() != truth["trade_id"].to_pylist():
            raise RuntimeError(f"{symbol}: the truth is not in the trades' order")
        rows, sets_price = transform_prints(t)  # the prints the transform signs, with its sets_price flags
        ts, px, sz = (t[c].to_numpy()[rows] for c in ("ts_ns", "price", "size"))
        p = prevailing_quotes(ts, q["ts_ns"].to_numpy(), q["bid_price"].to_numpy(), q["ask_price"].to_numpy(),
                              STALE_NS)
        side = lee_ready(px, p.bid, p.ask, p.flags, sets_price=sets_price).side
        former = lee_ready(px, p.bid, p.ask, p.flags).side  # every print moving the tick state (before 'ticks')
        true_side = truth["side"].to_numpy()[rows]
        rule[0] += int((~sets_price).sum())
        rule[1] += int((former != side).sum())
        rule[2] += int((former == true_side).sum())
        rule[3] += int((side == true_side).sum())
        signed.append((ts, px, sz, true_side, side))
    n_trades = sum(x[0].size for x in signed)
    lines = [f"{len(stocks)} simulated stocks, {hours:g} hours (24-hour mode), {n_trades:,} trades, one-minute "
             f"bars, n = {window} buckets per VPIN. Every print lies inside a bar here (one grid without gaps, from "
             "the first print on), so the transform's rule that a print outside every bar fills no bucket "
             "(udx.vpin_lr.vpin_lee_ready_step) cannot change these numbers: the buckets are filled by "
             "vpin_lee_ready_bars directly. Lee-Ready signs the prints the transform signs, with the `sets_price` "
             f"flags it passes (only price-setting prints move the tick state): {rule[0]:,} prints may not set the "
             f"price; {rule[1]:,} sides differ from the former rule (every print moving the tick state); trades "
             f"signed right {rule[3] / n_trades:.4f} (former rule {rule[2] / n_trades:.4f})."]
    for bpb in bars_per_bucket:
        series = [_symbol_series(*x, start, bpb, window) for x in signed]
        lines += _vpin_table(series, bpb)
    lines += _accuracy_table(series)  # per bar: the same for every V
    lr_s, bvc_s, n_t, n_b = _speed(series, window)
    lines += ["", f"Kernels, best of 5, this process (load average {report.load_average()}): Lee-Ready VPIN over "
              f"{n_t:,} trades {lr_s * 1e3:.1f} ms ({n_t / lr_s / 1e6:.1f}M trades/s); BVC VPIN over {n_b:,} bars "
              f"{bvc_s * 1e3:.1f} ms; ratio LR/BVC {lr_s / bvc_s:.1f}x (BVC's cost grows with bars, LR's with "
              "trades)."]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours")
    parser.add_argument("--bars-per-bucket", type=float, nargs="+", default=[8.0, 1.0],
                        help="V as the mean volume of this many bars; one table each")
    parser.add_argument("--window", type=int, default=50, help="buckets per VPIN value (n)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave BENCHMARKS.md as it is")
    args = parser.parse_args()
    lines = [
        f"`.venv/bin/python -m bench.bench_vpin_lr --hours {args.hours:g} --bars-per-bucket "
        f"{' '.join(f'{b:g}' for b in args.bars_per_bucket)} --window {args.window}` (bench/bench_vpin_lr.py), "
        f"{report.now_utc()}.",
        "",
        f"- Machine: {report.machine()}; load average at the start {report.load_average()} (a shared box: "
        "other jobs were running)",
        f"- {report.versions('numba', 'numpy')}",
        "",
    ]
    lines += run(args.hours, args.bars_per_bucket, args.window)
    report.publish(TITLE, "\n".join(lines), write=not args.no_write)


if __name__ == "__main__":
    main()
