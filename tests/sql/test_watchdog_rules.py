"""The one thread enforcing every query's time limit (``sql/watchdog.py``), called directly (issue 16 point 4).

Fast direct tests (a second or less each, no database: the mutation group ``watchdog`` of
``scripts/mutation``). The interrupts are plain callables that record when they were called. What is checked is
the module's documented contract, derived by hand: an interrupt is called once its deadline has passed and never
before it (late is allowed on a busy box, early is not), never after its block has ended, from one daemon thread
named as given and started once, whatever the order the deadlines come in; an interrupt that raises is logged and
the thread goes on; a fired interrupt (and the connection it holds) is not kept.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
import uuid
import weakref

import pytest

from sql.watchdog import Watchdog

WAIT_S = 3.0  # how long a test waits for an interrupt that must come (it comes in milliseconds)


class Stop:
    """A query's interrupt: records the monotonic time of each call."""

    def __init__(self) -> None:
        self.calls: list[float] = []
        self.event = threading.Event()

    def __call__(self) -> None:
        self.calls.append(time.monotonic())
        self.event.set()


def _name(what: str) -> str:
    """A thread name no earlier run in this process used (mutmut runs the tests more than once a process)."""
    return f"wd-{what}-{uuid.uuid4().hex[:8]}"


def _threads(name: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == name]


def test_an_interrupt_comes_once_its_deadline_has_passed_and_never_before():
    name = _name("deadline")
    dog = Watchdog(name)
    for timeout in (0.3, 0.05, 0.0):
        stop = Stop()
        start = time.monotonic()
        with dog.watch(stop, timeout):
            assert stop.event.wait(WAIT_S)
        assert len(stop.calls) == 1
        assert stop.calls[0] - start >= timeout


def test_a_block_that_ends_in_time_is_never_interrupted_afterwards():
    name = _name("in-time")
    dog = Watchdog(name)
    quiet = Stop()
    with dog.watch(quiet, 1.0):  # a second to leave an empty block: never reached, even on a busy box
        pass
    late = Stop()
    with dog.watch(late, 1.1):  # outlives the first deadline: the watchdog saw it pass
        assert late.event.wait(WAIT_S)
    assert quiet.calls == []


def test_late_queries_one_after_another_each_get_their_interrupt():
    name = _name("sequence")
    dog = Watchdog(name)
    for _ in range(3):
        stop = Stop()
        with dog.watch(stop, 0.01):
            assert stop.event.wait(WAIT_S)
        time.sleep(0.02)  # the thread is idle again, waiting for the next deadline
    assert len(_threads(name)) == 1


def test_a_nearer_deadline_registered_later_is_served_first():
    name = _name("nearer")
    dog = Watchdog(name)
    far, near = Stop(), Stop()
    with dog.watch(far, 60):
        with dog.watch(near, 0.01):
            assert near.event.wait(WAIT_S)
    assert far.calls == []


def test_deadlines_are_served_in_their_order_not_in_the_order_they_came():
    name = _name("order")
    dog = Watchdog(name)
    stops = {timeout: Stop() for timeout in (0.25, 0.05, 0.15)}
    start = time.monotonic()
    with dog.watch(stops[0.25], 0.25), dog.watch(stops[0.05], 0.05), dog.watch(stops[0.15], 0.15):
        for stop in stops.values():
            assert stop.event.wait(WAIT_S)
    fired = sorted(stops, key=lambda t: stops[t].calls[0])
    assert fired == [0.05, 0.15, 0.25]
    for timeout, stop in stops.items():
        assert stop.calls[0] - start >= timeout and len(stop.calls) == 1


def test_one_daemon_thread_named_as_given_started_once():
    name = _name("one")
    assert _threads(name) == []
    dog = Watchdog(name)
    for timeout in (0.01, 30, 0.01):
        stop = Stop()
        with dog.watch(stop, timeout):
            if timeout < 1:
                assert stop.event.wait(WAIT_S)
    (thread,) = _threads(name)
    assert thread.daemon


def test_the_default_thread_name():
    before = set(map(id, _threads("query-watchdog")))
    dog = Watchdog()
    stop = Stop()
    with dog.watch(stop, 0.0):
        assert stop.event.wait(WAIT_S)
    new = [t for t in _threads("query-watchdog") if id(t) not in before]
    assert len(new) == 1 and new[0].daemon


def test_an_interrupt_that_raises_is_logged_and_the_thread_goes_on(caplog):
    caplog.set_level(logging.DEBUG)
    name = _name("raises")
    dog = Watchdog(name)
    failed = threading.Event()

    def closed() -> None:
        failed.set()
        raise RuntimeError("connection already closed")

    with dog.watch(closed, 0.0):
        assert failed.wait(WAIT_S)
    after = Stop()
    with dog.watch(after, 0.0):
        assert after.event.wait(WAIT_S)
    lines = [(r.name, r.levelno, r.getMessage()) for r in caplog.records if r.name.startswith("microstructure")]
    assert lines == [("microstructure.sql", logging.WARNING,
                      "could not interrupt a query past its time limit: connection already closed")]
    assert len(_threads(name)) == 1


def test_many_concurrent_queries_each_get_their_own_interrupt():
    name = _name("many")
    dog = Watchdog(name)
    results: dict[int, list[float]] = {}
    done = threading.Barrier(9)

    def query(i: int) -> None:
        stop = Stop()
        late = i % 2 == 0
        with dog.watch(stop, 0.02 * (i % 3 + 1) if late else 30):
            if late:
                stop.event.wait(WAIT_S)
        results[i] = stop.calls
        done.wait(10)

    workers = [threading.Thread(target=query, args=(i,)) for i in range(8)]
    for w in workers:
        w.start()
    done.wait(10)
    assert {i: len(calls) for i, calls in results.items()} == {i: int(i % 2 == 0) for i in range(8)}
    assert len(_threads(name)) == 1


def test_a_fired_interrupt_and_its_connection_are_not_kept():
    name = _name("release")
    dog = Watchdog(name)

    class Connection:
        def __init__(self) -> None:
            self.stopped = threading.Event()

        def interrupt(self) -> None:
            self.stopped.set()

    connection = Connection()
    ref = weakref.ref(connection)
    with dog.watch(connection.interrupt, 0.0):
        assert connection.stopped.wait(WAIT_S)
    del connection
    deadline = time.monotonic() + WAIT_S
    while ref() is not None and time.monotonic() < deadline:
        gc.collect()
        time.sleep(0.01)
    assert ref() is None


@pytest.mark.parametrize("timeout", [0.0, -1.0])
def test_a_limit_already_passed_interrupts_at_once(timeout):
    name = _name("passed")
    dog = Watchdog(name)
    stop = Stop()
    with dog.watch(stop, timeout):
        assert stop.event.wait(WAIT_S)
    assert len(stop.calls) == 1
