"""``ingest/frame_decode.py``'s rules on small frames, with rows and counts worked out by hand.

``test_frame_decode.py`` compares :class:`FastFrameBatch` with the reference decoder on random frames; this file
pins what such a comparison can miss: which frames take the typed decode (``fast_frames``) and which go whole
to the reference (``reference_frames``), the counts while a batch fills, the order of rows across fast and
reference frames, :meth:`take_trades_first` after a reference frame, the condition texts (and their cache) and
the id of a crypto trade without ``i``. Every row is written out from the module docstrings (``ingest/normalize.py``
for the columns). Milliseconds a test: the mutation group ``frame-decode`` runs this file.
"""

from __future__ import annotations

import json

import pytest

from ingest import frame_decode
from ingest.frame_decode import FastFrameBatch
from ingest.normalize import FrameBatch

MS = 1_000_000
I32, I64 = 2**31 - 1, 2**63 - 1


def frame(*events: object) -> bytes:
    return json.dumps(list(events), separators=(",", ":")).encode()


def trade(k: int, **extra: object) -> dict:
    return {"ev": "T", "sym": f"S{k}", "x": k, "i": f"id{k}", "p": 10.0 + k, "s": k, "t": 1000 + k, **extra}


def quote(k: int, **extra: object) -> dict:
    return {"ev": "Q", "sym": f"S{k}", "bp": 1.0 + k, "bs": k, "ap": 2.0 + k, "as": 3, "t": 3000 + k, **extra}


def ctrade(k: int, **extra: object) -> dict:
    return {"ev": "XT", "pair": f"P{k}", "x": k, "i": f"c{k}", "p": 0.5 + k, "s": 0.25, "t": 2000 + k, **extra}


def cquote(k: int, **extra: object) -> dict:
    return {"ev": "XQ", "pair": f"P{k}", "bp": 0.5, "bs": 1.5, "ap": 0.75, "as": 2.5, "t": 4000 + k, "x": k,
            **extra}


def trade_row(k: int, received: int, **extra: object) -> dict:
    row = {"market": "stocks", "symbol": f"S{k}", "ts_ns": (1000 + k) * MS, "price": 10.0 + k, "size": float(k),
           "exchange": k, "trade_id": f"id{k}", "conditions": None, "tape": None, "sequence": None, "trf_id": None,
           "trf_ts_ns": None, "received_ns": received, "source": "sim", "correction": None}
    return {**row, **extra}


def quote_row(k: int, received: int, **extra: object) -> dict:
    row = {"market": "stocks", "symbol": f"S{k}", "ts_ns": (3000 + k) * MS, "bid_price": 1.0 + k,
           "bid_size": float(k), "ask_price": 2.0 + k, "ask_size": 3.0, "bid_exchange": None, "ask_exchange": None,
           "conditions": None, "sequence": None, "tape": None, "received_ns": received, "source": "sim"}
    return {**row, **extra}


def ctrade_row(k: int, received: int, **extra: object) -> dict:
    row = {"market": "crypto", "symbol": f"P{k}", "ts_ns": (2000 + k) * MS, "price": 0.5 + k, "size": 0.25,
           "exchange": k, "trade_id": f"c{k}", "conditions": None, "tape": None, "sequence": None, "trf_id": None,
           "trf_ts_ns": None, "received_ns": received, "source": "sim", "correction": None}
    return {**row, **extra}


def cquote_row(k: int, received: int) -> dict:
    return {"market": "crypto", "symbol": f"P{k}", "ts_ns": (4000 + k) * MS, "bid_price": 0.5, "bid_size": 1.5,
            "ask_price": 0.75, "ask_size": 2.5, "bid_exchange": k, "ask_exchange": k, "conditions": None,
            "sequence": None, "tape": None, "received_ns": received, "source": "sim"}


def run(*frames: bytes | str) -> tuple[FastFrameBatch, object]:
    batch = FastFrameBatch("sim")
    for k, f in enumerate(frames):
        batch.add_frame(f, 100 + k)
    return batch, batch.take()


# --- rows worked out by hand -----------------------------------------------------------------------------------

def test_each_kind_of_event_gives_its_row() -> None:
    batch, out = run(frame(trade(1), quote(2), ctrade(3), cquote(4)))
    assert (batch.fast_frames, batch.reference_frames) == (1, 0)
    assert out.trades.to_pylist() == [trade_row(1, 100), ctrade_row(3, 100)]
    assert out.quotes.to_pylist() == [quote_row(2, 100), cquote_row(4, 100)]
    assert out.rejects == [] and out.statuses == []


def test_stock_fields_timestamps_and_the_correction() -> None:
    events = [
        trade(1, t_ns=5, z=3, q=-9, trfi=I32, trft=7, c=[0, 12]),
        trade(2, t_ns=6, trft=7, trft_ns=8, _corr=None, c=4),
        trade(3, _corr=-(2**31), trft=None, c=[], z=None, q=I64),
        trade(4, t=None, t_ns=I64, _corr=I32),
        trade(5, t=I64 // MS),
        trade(6, i=-3),
    ]
    batch, out = run(frame(*events))
    assert batch.fast_frames == 1 and batch.reference_frames == 0
    assert out.trades.to_pylist() == [
        trade_row(1, 100, ts_ns=5, tape=3, sequence=-9, trf_id=I32, trf_ts_ns=7 * MS, conditions="0,12",
                  correction=0),
        trade_row(2, 100, ts_ns=6, trf_ts_ns=8, conditions="4", correction=None),
        trade_row(3, 100, correction=-(2**31), sequence=I64),
        trade_row(4, 100, ts_ns=I64, correction=I32),
        trade_row(5, 100, ts_ns=(I64 // MS) * MS),
        trade_row(6, 100, trade_id="-3"),
    ]


def test_quote_fields() -> None:
    events = [quote(1, t_ns=9, bx=4, ax=I32, c=[1, 2], q=7, z=2), quote(2, c=1, bx=None, z=-(2**31)),
              quote(3, bp=0, ap=0.0, bs=0, **{"as": 0}), cquote(4, x=None), quote(5, t=None, t_ns=11)]
    batch, out = run(frame(*events))
    assert batch.fast_frames == 1
    assert out.quotes.to_pylist() == [
        quote_row(1, 100, ts_ns=9, bid_exchange=4, ask_exchange=I32, conditions="1,2", sequence=7, tape=2),
        quote_row(2, 100, conditions="1", tape=-(2**31)),
        quote_row(3, 100, bid_price=0.0, ask_price=0.0, bid_size=0.0, ask_size=0.0),
        {**cquote_row(4, 100), "bid_exchange": None, "ask_exchange": None},
        quote_row(5, 100, ts_ns=11),
    ]


def test_the_default_source_is_ws() -> None:
    batch = FastFrameBatch()
    assert batch.source == "ws"
    batch.add_frame(frame(trade(1), quote(2)), 5)
    out = batch.take()
    assert out.trades.column("source").to_pylist() == ["ws"] and out.quotes.column("source").to_pylist() == ["ws"]


def test_a_crypto_trade_without_an_id_gets_price_x_size() -> None:
    batch, out = run(frame(ctrade(1, i=None, p=0.1, s=3), ctrade(2, i=None, p=7, s=0.30000000000000004),
                           ctrade(3, i=12)))
    assert out.trades.column("trade_id").to_pylist() == ["~0.1x3.0", "~7.0x0.30000000000000004", "12"]
    assert batch.fast_frames == 1


@pytest.mark.parametrize("c, text", [(None, None), (0, "0"), (-7, "-7"), ((), None), ((5,), "5"),
                                     ((0, 12, -1), "0,12,-1"), ((I64, -(2**63)), f"{I64},{-(2**63)}")])
def test_condition_texts(c: object, text: str | None) -> None:
    assert frame_decode._conditions(c) == text
    assert frame_decode._condition_texts([c, None, c]) == [text, None, text]


def test_the_condition_texts_cache_is_bounded_and_never_wrong(monkeypatch: pytest.MonkeyPatch) -> None:
    cache: dict = {None: None}
    monkeypatch.setattr(frame_decode, "_CONDITION_TEXTS", cache)
    monkeypatch.setattr(frame_decode, "_MAX_CONDITION_TEXTS", 3)
    assert frame_decode._condition_texts([(1, 2), 5, (1, 2)]) == ["1,2", "5", "1,2"]
    assert cache == {None: None, (1, 2): "1,2", 5: "5"}
    assert frame_decode._condition_texts([(9,), 6, (1, 2)]) == ["9", "6", "1,2"]  # 3 kept: no more stored
    assert cache == {None: None, (1, 2): "1,2", 5: "5"}
    cache[7] = "wrong"  # a cached text is what is used
    assert frame_decode._condition_texts([7]) == ["wrong"]
    monkeypatch.setattr(frame_decode, "_MAX_CONDITION_TEXTS", 5)
    cache.pop(7)
    assert frame_decode._condition_texts([8, 9]) == ["8", "9"]
    assert set(cache) == {None, (1, 2), 5, 8, 9}


# --- which frames take the typed decode --------------------------------------------------------------------------

REFERENCE_FRAMES = [
    frame(trade(1, t=None)),  # neither t nor t_ns: the reference gives the reject
    frame(quote(1, t=None)),
    frame(trade(1, t=0)), frame(trade(1, t_ns=0)), frame(trade(1, p=0)), frame(trade(1, s=-1)),
    frame(trade(1, x=I32 + 1)), frame(trade(1, z=-(2**31) - 1)), frame(trade(1, trfi=I32 + 1)),
    frame(trade(1, _corr=I32 + 1)), frame(trade(1, sym="")), frame(trade(1, i="")), frame(trade(1, t=I64 // MS + 1)),
    frame(trade(1, trft=0)), frame(trade(1, trft_ns=0)), frame(trade(1, q=2**63)), frame(trade(1, c=[1.5])),
    frame(quote(1, bp=-1)), frame(quote(1, bx=I32 + 1)), frame(quote(1, t_ns=-1)), frame(cquote(1, x=2**31)),
    frame(ctrade(1, pair="")), frame(ctrade(1, t=None)), frame({"ev": "status", "status": "ok", "message": "m"}),
    frame({"ev": "A"}), frame(1), b'{"ev":"T"}', b"[", b'[{"ev":"T","ev":"Q"}]', "not json",
]


@pytest.mark.parametrize("bad", REFERENCE_FRAMES, ids=range(len(REFERENCE_FRAMES)))
def test_a_frame_the_typed_decode_refuses_goes_whole_to_the_reference(bad: bytes | str) -> None:
    batch = FastFrameBatch("sim")
    reference = FrameBatch("sim")
    good = frame(trade(7), quote(8))
    for k, f in enumerate([good, bad, good]):
        batch.add_frame(f, 100 + k)
        reference.add_frame(f, 100 + k)
    assert (batch.fast_frames, batch.reference_frames) == (2, 1)
    assert (batch.n_trades, batch.n_quotes) == (reference.n_trades, reference.n_quotes)
    got, want = batch.take(), reference.take()
    assert repr(got.trades.to_pylist()) == repr(want.trades.to_pylist())
    assert repr(got.quotes.to_pylist()) == repr(want.quotes.to_pylist())
    assert got.rejects == want.rejects and got.statuses == want.statuses


def test_the_counts_while_a_batch_fills_and_the_order_of_rows() -> None:
    batch = FastFrameBatch("sim")
    assert (batch.n_trades, batch.n_quotes, batch.n_rows) == (0, 0, 0)
    batch.add_frame(frame(trade(1), quote(1), trade(2)), 100)
    assert (batch.n_trades, batch.n_quotes, batch.fast_frames, batch.reference_frames) == (2, 1, 1, 0)
    batch.add_frame(frame(trade(3), quote(3, bp=-1), quote(4)), 101)  # the bad quote: the reference reads it
    assert (batch.n_trades, batch.n_quotes, batch.fast_frames, batch.reference_frames) == (3, 2, 1, 1)
    assert len(batch.rejects) == 1
    batch.add_frame(frame(quote(5), trade(5)), 102)
    assert (batch.n_trades, batch.n_quotes, batch.fast_frames, batch.reference_frames) == (4, 3, 2, 1)
    batch.add_frame(frame({"ev": "status", "status": "connected", "message": "hi"}, trade(6)), 103)
    assert (batch.n_trades, batch.n_quotes, batch.n_rows, batch.reference_frames) == (5, 3, 8, 2)
    batch.add_frame(frame(trade(7)), 104)
    out = batch.take()
    assert [r["symbol"] for r in out.trades.to_pylist()] == ["S1", "S2", "S3", "S5", "S6", "S7"]
    assert [r["received_ns"] for r in out.trades.to_pylist()] == [100, 100, 101, 102, 103, 104]
    assert [r["symbol"] for r in out.quotes.to_pylist()] == ["S1", "S4", "S5"]
    assert [r["received_ns"] for r in out.quotes.to_pylist()] == [100, 101, 102]
    assert [s.status for s in out.statuses] == ["connected"] and len(out.rejects) == 1
    assert (batch.n_trades, batch.n_quotes, batch.n_rows) == (0, 0, 0)
    assert batch.statuses == [] and batch.rejects == []
    again = batch.take()
    assert again.trades.num_rows == 0 and again.quotes.num_rows == 0 and again.rejects == [] and again.statuses == []
    batch.add_frame(frame(trade(9)), 105)
    assert batch.take().trades.to_pylist() == [trade_row(9, 105)]


def test_take_trades_first_with_reference_quotes_before() -> None:
    batch = FastFrameBatch("sim")
    batch.add_frame(frame(quote(1), trade(1)), 100)
    batch.add_frame(frame(quote(2), quote(3, bp=-1)), 101)  # reference: quote 2 kept, 3 rejected
    batch.add_frame(frame(quote(4), trade(4)), 102)
    first, build = batch.take_trades_first()
    assert batch.n_rows == 0 and first.quotes.num_rows == 0 and len(first.rejects) == 1
    assert first.trades.to_pylist() == [trade_row(1, 100), trade_row(4, 102)]
    assert build().to_pylist() == [quote_row(1, 100), quote_row(2, 101), quote_row(4, 102)]
    # only fast quotes; only quotes sealed before; no quotes at all
    batch.add_frame(frame(quote(5)), 103)
    first, build = batch.take_trades_first()
    assert first.trades.num_rows == 0 and build().to_pylist() == [quote_row(5, 103)]
    batch.add_frame(frame(quote(6)), 104)
    batch.add_frame(frame(quote(7, bp=-1)), 105)
    first, build = batch.take_trades_first()
    assert build().to_pylist() == [quote_row(6, 104)] and len(first.rejects) == 1
    batch.add_frame(frame(trade(8)), 106)
    first, build = batch.take_trades_first()
    assert first.trades.to_pylist() == [trade_row(8, 106)]
    quotes = build()
    assert quotes.num_rows == 0 and quotes.schema == first.quotes.schema
    assert batch.take().trades.num_rows == 0


# --- text the reference refuses in a field the typed decode does not read (bug found by this branch) -----------

_QUOTE_TEXT = '[{"ev":"Q","sym":"NVDA","bp":1.5,"bs":6,"ap":2.5,"as":3,"t":1712306654000,%s}]'
BAD_TEXT_FRAMES = [
    (_QUOTE_TEXT % '"pair":"AA').encode() + b'\xffPL"}]',  # invalid UTF-8 in a field a stock quote does not read
    (_QUOTE_TEXT % '"u":"').encode() + b'\xed\xa0\x80"}]',  # an encoded surrogate
    (_QUOTE_TEXT % '"u":"').encode() + b'\xc0\xaf"}]',  # an overlong encoding
    (_QUOTE_TEXT % '"').encode() + b'\xff":1}]',  # in an unknown key
    (_QUOTE_TEXT % '"u":["').encode() + b'\xe2\x82"]}]',  # a cut sequence, nested
    _QUOTE_TEXT % '"u":"\ud800"',  # a str frame with a lone surrogate: msgspec raised UnicodeEncodeError out of add_frame
    (_QUOTE_TEXT % '"sym":"AA').encode() + b'\xffPL"}]',  # a field it reads (msgspec refused this one before)
]


@pytest.mark.parametrize("bad", BAD_TEXT_FRAMES, ids=range(len(BAD_TEXT_FRAMES)))
def test_text_that_is_not_utf8_goes_to_the_reference_wherever_it_is(bad: bytes | str) -> None:
    """The module docstring: invalid UTF-8 and lone surrogates are refused by both readers alike. msgspec skips
    the fields a struct does not read without checking their text, so such a frame was decoded fast while the
    reference rejects it whole as not JSON (the quote was stored instead of dead-lettered)."""
    batch, out = run(frame(trade(1)), bad, frame(trade(2)))
    assert (batch.fast_frames, batch.reference_frames) == (2, 1)
    assert out.quotes.num_rows == 0 and [r["symbol"] for r in out.trades.to_pylist()] == ["S1", "S2"]
    assert len(out.rejects) == 1 and out.rejects[0].reason.startswith("frame is not valid JSON")


def test_valid_utf8_outside_ascii_still_takes_the_typed_decode() -> None:
    text = (_QUOTE_TEXT % '"u":"\u00e9\u20ac\U0001f600"').encode()
    batch, out = run(text, (_QUOTE_TEXT % '"u":"\u00e9"'))
    assert (batch.fast_frames, batch.reference_frames) == (2, 0)
    assert out.quotes.num_rows == 2 and out.rejects == []
