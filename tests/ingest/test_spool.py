"""The spool file on its own: durable appends, a torn last line skipped, atomic replace, one stream per spool."""

from __future__ import annotations

import orjson
import pytest

from ingest.spool import Spool, SpoolBusy, WriteAhead, events_of_lines, read_lines


def test_appended_lines_read_back_in_order_and_a_torn_last_line_is_skipped(tmp_path):
    with Spool(tmp_path / "s.jsonl") as spool:
        spool.append([b'{"ev":"T","i":"1"}', b'{"ev":"T","i":"2"}'])
        spool.append([b'[{"ev":"T","i":"3"},{"ev":"Q","sym":"A"}]'])
        with spool.path.open("ab") as fh:
            fh.write(b'{"ev":"T","i":"4"')  # a crash in the middle of an append
        lines, torn = read_lines(spool.path)
    assert torn == 1
    assert [e["i"] if e["ev"] == "T" else e["sym"] for e in events_of_lines(lines)] == ["1", "2", "3", "A"]


def test_a_complete_last_line_without_newline_is_kept_and_a_bad_line_comes_back_as_text(tmp_path):
    path = tmp_path / "s.jsonl"
    path.write_bytes(b'not json\n\n{"ev":"T","i":"9"}')
    lines, torn = read_lines(path)
    assert torn == 0 and events_of_lines(lines) == ["not json", {"ev": "T", "i": "9"}]


def test_replace_keeps_only_the_unconfirmed_events_and_deletes_the_segments(tmp_path):
    with Spool(tmp_path / "s.jsonl") as spool:
        spool.append([b'{"i":"a"}', b'{"i":"b"}'])
        segment = spool.path.with_name("s.jsonl.wal.3")
        segment.write_bytes(b'[{"i":"c"}]\n')
        files = spool.pending_files()
        assert files == [segment, spool.path]
        spool.replace(files, [b'{"i":"b"}'])
        assert read_lines(spool.path) == ([b'{"i":"b"}'], 0) and not segment.exists()
        spool.replace(spool.pending_files(), [])
        assert spool.path.read_bytes() == b"" and spool.pending_files() == []


def test_a_second_process_on_the_same_spool_is_refused_with_the_setting_named(tmp_path):
    with Spool(tmp_path / "s.jsonl"):
        with pytest.raises(SpoolBusy, match="STREAM_SPOOL_PATH"):
            Spool(tmp_path / "s.jsonl")
    Spool(tmp_path / "s.jsonl").close()  # released on close


def test_a_write_ahead_segment_goes_once_every_event_of_it_is_answered_for(tmp_path):
    failed = []
    with Spool(tmp_path / "s.jsonl") as spool:
        wal = WriteAhead(spool, lambda err, msg: failed.append(msg), segment_seconds=0.0)
        first = wal.write([orjson.dumps([{"ev": "T", "i": "1"}, {"ev": "T", "i": "2"}])])
        first.produced = 2
        second = wal.write([b'[{"ev":"T","i":"3"}]'])  # segment_seconds=0: a new segment each write
        second.produced = 1
        assert first.path != second.path and wal.files == 2
        first.ack(None, "m1")
        wal.collect()
        assert first.path.exists()  # one of its two events is not answered for yet
        first.ack("purged", "m2")
        wal.collect()
        assert not first.path.exists() and second.path.exists() and failed == ["m2"]
        second.ack(None, "m3")
        wal.collect(final=True)
        assert spool.segments() == [] and wal.files == 0


def test_replaying_a_spool_into_the_database_stores_each_event_once_and_rejects_bad_lines_with_a_reason(
        tmp_path, caplog):
    import logging

    import duckdb

    from ingest.replay import replay_paths
    from sql.settings import Settings

    trade = {"ev": "T", "sym": "AAPL", "x": 11, "i": "7", "z": 3, "p": 190.5, "s": 100, "c": [12], "t": 1_712_306_654_208,
             "q": 3807}
    quote = {"ev": "Q", "sym": "AAPL", "bx": 11, "bp": 190.4, "bs": 2, "ax": 12, "ap": 190.6, "as": 3, "c": 0,
             "t": 1_712_306_654_209, "q": 3808, "z": 3}
    spool = tmp_path / "stream-stocks.spool.jsonl"
    spool.write_bytes(b"\n".join([orjson.dumps(trade), orjson.dumps([dict(trade, i="8"), quote]), b"{not json",
                                  orjson.dumps({"ev": "T", "sym": "AAPL"}), b'{"ev":"T","sym":"AAPL","i":"9"']))
    settings = Settings(duckdb_path=tmp_path / "replay.duckdb")  # type: ignore[call-arg]
    with caplog.at_level(logging.WARNING, logger="ingest.replay_spool"):
        first, = replay_paths(settings, [spool], progress=False)
        again, = replay_paths(settings, [spool], progress=False)
    assert (first.rows, first.added, first.skipped) == (5, 3, 3)  # 2 malformed events + the torn last line
    assert again.skipped == 3
    reasons = [r.getMessage() for r in caplog.records if "skipped (" in r.getMessage()]
    assert len(reasons) == 4 and all("spool.jsonl: skipped (" in m for m in reasons)
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as con:
        # a resend of stored trades adds no row (quotes carry no dedupe key in the storage contract)
        assert con.execute("SELECT trade_id, source FROM market_data ORDER BY trade_id").fetchall() == [
            ("7", "replay"), ("8", "replay")]


def test_a_second_stream_on_a_held_spool_exits_with_one_line_naming_the_setting(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "STREAM_SPOOL_PATH": str(tmp_path / "s.jsonl"),
           "PYTHONPATH": str(root)}
    with Spool(tmp_path / "s.jsonl"):
        done = subprocess.run([sys.executable, "-m", "server.cli", "stream", "--simulate"], env=env, cwd=root,
                              capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"microstructure: the spool {tmp_path / 's.jsonl'} is in use by another 'microstructure stream' (set "
        "STREAM_SPOOL_PATH to a file of its own for each stream)"]
