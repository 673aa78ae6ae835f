"""The one watchdog thread behind the query time limit: fires late queries only, and never after the fact."""

from __future__ import annotations

import threading

from sql.watchdog import Watchdog


def test_a_query_past_its_limit_is_interrupted_and_one_in_time_is_not():
    dog = Watchdog()
    fired = threading.Event()
    with dog.watch(fired.set, 0.01):
        assert fired.wait(5)
    quiet = threading.Event()
    with dog.watch(quiet.set, 0.05):
        pass
    late = threading.Event()
    with dog.watch(late.set, 0.06):  # outlives the first deadline: the watchdog saw it pass
        assert late.wait(5)
    assert not quiet.is_set()


def test_a_nearer_deadline_registered_later_is_served_first():
    dog = Watchdog()
    far, near = threading.Event(), threading.Event()
    with dog.watch(far.set, 30):
        with dog.watch(near.set, 0.01):
            assert near.wait(5)
    assert not far.is_set()


def test_one_thread_serves_many_concurrent_queries():
    dog = Watchdog()
    hits = []
    done = threading.Barrier(9)

    def query(i: int) -> None:
        flag = threading.Event()
        with dog.watch(flag.set, 0.01 * (i % 3 + 1)):
            flag.wait(5)
        hits.append(flag.is_set())
        done.wait(10)

    workers = [threading.Thread(target=query, args=(i,)) for i in range(8)]
    for w in workers:
        w.start()
    done.wait(10)
    assert hits == [True] * 8
    assert sum(t.name == "query-watchdog" for t in threading.enumerate()) >= 1
