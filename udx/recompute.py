"""Recompute signals on demand: ``microstructure transform --recompute [--symbols A,B] [--since ISO]``.

:func:`prepare_recompute` only moves the chosen symbols back; the transform that follows
(:func:`udx.transform.run_transform`, or Vertica's in-database one) then recomputes them incrementally, chunk
by chunk, exactly as a first run would (its exactness: micro-batches and restarts equal one pass).

* Without ``since_ns`` a symbol's bars, fits, profiles and state are deleted (``Storage.reset_signals``): it
  is recomputed from its first trade.
* With ``since_ns`` it is recomputed from the start of the session holding ``since_ns`` (or of the next
  session when ``since_ns`` falls between two): its state at that point is computed from its first trade
  without writing anything (:func:`udx.transform.state_at`: the trades before are read, the rows before stay),
  then its bars, fits and profiles after that state are deleted and the state stored, in one transaction
  (``Storage.rewind_signals``). A symbol without a bar before that session is recomputed from its first trade.

**After an archive** (retention moved a symbol's old days to Parquet, :mod:`sql.archive`), a recompute
never reaches into the archived days: their trades are no longer live, and signals in the archive cannot be
rewritten. A symbol the archive holds (``Storage.archived_until``: the end of its newest archived day of
trades or signals) is recomputed from the first session opening at or after that end, or from the
``since_ns`` session when later; its state there is computed from its first trade, reading the archived
trades back (``read_trades_with_archive``), so the recomputed part equals a one-pass run over every trade.
Rows before stay as made, ``model_params.fingerprint`` saying which definitions made them, and one log line
says so. This guard covers ``transform --recompute`` and the transform's own recompute after a definitions
change alike (:func:`udx.transform.run_transform` calls :func:`prepare_recompute`).

One log line says which symbols are recomputed and from when.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from sql.backend import SignalStateRow, Storage
from sql.settings import Settings
from udx.pipeline import SignalConfig
from udx.sessions import session_bounds
from udx.transform import liquidity_config, signal_config, state_at

__all__ = ["parse_since", "prepare_recompute"]

_NS = 1_000_000_000
_SEARCH_NS = 8 * 86_400 * _NS  # the next session opens within a week (weekends, holidays of a spec)
_NAMED = 10  # symbols named in the log line
log = logging.getLogger(__name__)


def parse_since(text: str) -> int:
    """``--since``: an ISO-8601 date or time (UTC unless it names an offset) as ns since the epoch.

    Raises
    ------
    ValueError
        Naming the option and an example when ``text`` is not ISO-8601.
    """
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--since {text!r} is not an ISO-8601 date or time, e.g. 2024-03-11 or "
                         "2024-03-11T14:30:00Z") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp()) * _NS + moment.microsecond * 1_000


def _session_start(cfg: SignalConfig, since_ns: int) -> int | None:
    """The open of the session holding ``since_ns``, or of the next one; ``None`` when none opens soon."""
    opens, _ = session_bounds(cfg.session, since_ns, since_ns + _SEARCH_NS)
    return int(opens[0]) if opens.size else None


def _when(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns // _NS, dt.UTC).strftime("%Y-%m-%dT%H:%MZ")


def prepare_recompute(storage: Storage, settings: Settings, symbols: Sequence[str] | None = None,
                      since_ns: int | None = None, *, announce: bool = True) -> list[str]:
    """Move ``symbols`` (default: every symbol with trades) back so that the next transform recomputes them.

    Parameters
    ----------
    storage
        The database, schema applied.
    settings
        The grid (``bar_seconds``), sessions and signal parameters the signals are recomputed with.
    symbols
        Symbols to recompute; each must have trades.
    since_ns
        Recompute from the start of the session holding this time (module docstring); ``None``: from each
        symbol's first trade, or from where its live trades are complete when the archive holds its old days.
    announce
        Log which symbols are recomputed from when; ``False`` when the caller said so already (the transform
        after a definitions change). The line about the archive is always logged.

    Returns
    -------
    list of str
        The symbols asked for, sorted (an archived symbol without a session after its archive keeps its rows).

    Raises
    ------
    ValueError
        When a symbol has no trades (naming it) or no symbol has trades.
    """
    markets = {symbol: market for market, symbol in storage.trade_symbols()}
    chosen = sorted(set(symbols)) if symbols else sorted(markets)
    unknown = [s for s in chosen if s not in markets]
    if unknown:
        raise ValueError(f"no trades for symbol(s) {', '.join(unknown)}; nothing to recompute for them")
    if not chosen:
        raise ValueError("no symbol has trades; nothing to recompute")
    bar_seconds = settings.bar_seconds
    archived = _archived_until(storage)
    say = _say if announce else _quiet
    if since_ns is None and not any(symbol in archived for symbol in chosen):
        say(chosen, "from their first trade")
        storage.reset_signals(chosen, bar_seconds)
        return chosen
    newest = storage.newest_trade_ns()
    watermark = int(newest) - round(settings.transform_lateness_seconds * _NS)  # as run_transform's
    configs: dict[str, SignalConfig] = {}
    rewinds: list[SignalStateRow] = []
    from_first: list[str] = []
    guarded: list[str] = []  # symbols whose recompute starts later than asked because of the archive
    for symbol in chosen:
        market = markets[symbol]
        cfg = configs.setdefault(market, signal_config(settings, market))
        start = _session_start(cfg, since_ns) if since_ns is not None else None
        if symbol in archived:
            live_from = _first_open(cfg, archived[symbol])
            if live_from is None or start is None or live_from > start:
                guarded.append(f"{symbol} (archived to {_when(archived[symbol])})")
                start = live_from
            if start is None:
                continue  # no session after its archive yet: nothing live to recompute
        state = (state_at(storage, symbol, market, cfg, min(start, watermark), liquidity_config(settings))
                 if start is not None else None)
        if state is not None:
            rewinds.append(SignalStateRow(symbol, bar_seconds, state.last_bar_end_ns, state.to_json()))
        elif symbol in archived:
            guarded.append(f"{symbol} (no bar before its live trades; left as is)")
        else:
            from_first.append(symbol)
    if guarded:
        _say(guarded, "only after the archive (their signals before stay as made; model_params.fingerprint "
                      "names the definitions of their fits)")
    if rewinds:
        say([f"{r.symbol} (after {_when(r.last_bar_end_ns)})" for r in rewinds],
             "from the session holding {} on".format(_when(since_ns)) if since_ns is not None
             else "from the first session of their live trades on")
        storage.rewind_signals(rewinds)
    if from_first:
        say(from_first, "from their first trade (no bar before that session)" if since_ns is not None
             else "from their first trade")
        storage.reset_signals(from_first, bar_seconds)
    return chosen


def _archived_until(storage: Storage) -> dict[str, int]:
    """Per symbol the archive holds, the end of its newest archived day (none without an archive)."""
    reader = getattr(storage, "archived_until", None)
    return {} if reader is None else dict(reader())


def _first_open(cfg: SignalConfig, at_ns: int) -> int | None:
    """The open of the first session opening at or after ``at_ns``; ``None`` when none opens soon."""
    opens, _ = session_bounds(cfg.session, at_ns, at_ns + _SEARCH_NS)
    later = opens[opens >= at_ns]
    return int(later[0]) if later.size else None


def _quiet(named: Sequence[str], when: str) -> None:
    """:func:`_say` when the caller has said it."""


def _say(named: Sequence[str], when: str) -> None:
    log.warning("recomputing the signals of %d symbol(s) %s: %s%s", len(named), when, ", ".join(named[:_NAMED]),
                f", and {len(named) - _NAMED} more" if len(named) > _NAMED else "")
