"""Polygon WebSocket events of a synthetic-market chunk, one ``dict`` per event: the plain reference for
``ingest.sim_events`` (the simulator's former per-event builder, kept here as written from the polygon notes
§1.4: field names, JSON types, a quote before its trade, a post-trade quote after it).

Nothing here imports the code it checks: the chunk is read by attribute name only, and the constants (the TRF
id, the sale condition of each bad-print kind) are written out.
"""

from __future__ import annotations

from typing import Any

TRF_ID = 202  # FINRA Nasdaq TRF Carteret, for trades reported on exchange 4
KIND_CONDITION = (0, 2, 22, 33, 0)  # regular, average price, prior reference, out of sequence, erroneous


def chunk_events(symbol: str, market: str, tape: int | None, chunk: Any) -> list[tuple[int, float, dict[str, Any]]]:
    """The events of one chunk as ``(t_ms, order, event)``; ``order`` 2k (quote), 2k + 1 (trade), 2k + 1.5
    (post-trade quote) for the chunk's ``k``-th trade."""
    out: list[tuple[int, float, dict[str, Any]]] = []
    n = len(chunk.ts_ns)
    t_ms = [int(v) // 1_000_000 for v in chunk.ts_ns]
    q_ms = [int(v) // 1_000_000 for v in chunk.quote_ts_ns]
    recv = [(int(a) + int(b)) // 1_000_000 for a, b in zip(chunk.ts_ns, chunk.latency_ns)]
    price, size = [float(v) for v in chunk.price], [float(v) for v in chunk.size]
    bid, ask = [float(v) for v in chunk.bid], [float(v) for v in chunk.ask]
    bs, as_ = [float(v) for v in chunk.bid_size], [float(v) for v in chunk.ask_size]
    ex, bx, ax = [int(v) for v in chunk.exchange], [int(v) for v in chunk.bid_ex], [int(v) for v in chunk.ask_ex]
    ids, seq, side = [int(v) for v in chunk.trade_id], [int(v) for v in chunk.seq], [int(v) for v in chunk.side]
    odd = [bool(v) for v in chunk.odd_lot]
    kind = [0] * n if chunk.kind is None else [int(v) for v in chunk.kind]
    if chunk.quote_bid is not None:  # quote dynamics: the published quotes differ from the book
        bid, ask = [float(v) for v in chunk.quote_bid], [float(v) for v in chunk.quote_ask]
        for k in range(n):
            b, a = float(chunk.post_bid[k]), float(chunk.post_ask[k])
            if b != b:  # NaN: no post-trade quote
                continue
            if market == "stocks":
                event: dict[str, Any] = {"ev": "Q", "sym": symbol, "bx": bx[k], "bp": b, "bs": int(bs[k]),
                                         "ax": ax[k], "ap": a, "as": int(as_[k]), "c": 1, "t": t_ms[k],
                                         "q": seq[k], "z": tape}
            else:
                event = {"ev": "XQ", "pair": symbol, "bp": b, "bs": bs[k], "ap": a, "as": as_[k], "t": t_ms[k],
                         "x": bx[k], "r": recv[k]}
            out.append((t_ms[k], 2 * k + 1.5, event))
    for k in range(n):
        if market == "stocks":
            out.append((q_ms[k], 2 * k, {
                "ev": "Q", "sym": symbol, "bx": bx[k], "bp": bid[k], "bs": int(bs[k]), "ax": ax[k], "ap": ask[k],
                "as": int(as_[k]), "c": 1, "t": q_ms[k], "q": seq[k] - 1, "z": tape,
            }))
            trade: dict[str, Any] = {"ev": "T", "sym": symbol, "x": ex[k], "i": str(ids[k]), "z": tape,
                                     "p": price[k], "s": int(size[k]), "t": t_ms[k], "q": seq[k]}
            code = KIND_CONDITION[kind[k]]
            conditions = ([code] if code else []) + ([37] if odd[k] else [])
            if conditions:
                trade["c"] = conditions
            if ex[k] == 4:
                trade["trfi"] = TRF_ID
                trade["trft"] = t_ms[k] - 1
            out.append((t_ms[k], 2 * k + 1, trade))
        else:
            out.append((q_ms[k], 2 * k, {
                "ev": "XQ", "pair": symbol, "bp": bid[k], "bs": bs[k], "ap": ask[k], "as": as_[k], "t": q_ms[k],
                "x": bx[k], "r": recv[k],
            }))
            out.append((t_ms[k], 2 * k + 1, {
                "ev": "XT", "pair": symbol, "p": price[k], "t": t_ms[k], "s": size[k],
                "c": [2 if side[k] > 0 else 1], "i": str(ids[k]), "x": ex[k], "r": recv[k],
            }))
    return out


def step_events(chunks: list[tuple[str, str, int | None, Any]]) -> list[dict[str, Any]]:
    """One step's events over ``(symbol, market, tape, chunk)`` in the market's order: every chunk's events,
    stably sorted by ``(t_ms, order)`` (ties between chunks keep the chunks' order)."""
    events: list[tuple[int, float, dict[str, Any]]] = []
    for symbol, market, tape, chunk in chunks:
        events.extend(chunk_events(symbol, market, tape, chunk))
    events.sort(key=lambda item: (item[0], item[1]))
    return [event for _, _, event in events]
