"""``server.health.RecentCheck``: /health answers from the newest check, starts the next one when due, and
waits for a check only when there is none recent enough (real threads; the clock is the test's)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from server.health import RecentCheck


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Check:
    """Counts its runs and returns the run number; a run can be held until released."""

    def __init__(self) -> None:
        self.runs = 0
        self.release = threading.Event()
        self.release.set()
        self.started = threading.Event()

    def __call__(self) -> int:
        self.runs += 1
        self.started.set()
        self.release.wait(10)
        return self.runs


def _recent(check: Check, clock: Clock) -> RecentCheck[int]:
    return RecentCheck(check, max_age_s=1.0, grace_s=5.0, clock=clock)


def test_the_first_request_waits_for_a_check_and_a_recent_result_is_answered_without_one():
    check, clock = Check(), Clock()

    async def scenario() -> list[int]:
        recent = _recent(check, clock)
        answers = [await recent()]
        clock.now += 0.9
        answers.append(await recent())
        recent.close(wait=True)  # a check started by the second request would have run by now
        return answers

    assert asyncio.run(scenario()) == [1, 1]
    assert check.runs == 1


def test_an_older_result_is_answered_at_once_while_the_next_check_runs_then_the_new_one():
    check, clock = Check(), Clock()

    async def scenario() -> list[int]:
        recent = _recent(check, clock)
        answers = [await recent()]
        check.release.clear()
        check.started.clear()
        clock.now += 2.0  # older than max_age, within the grace
        answers.append(await asyncio.wait_for(recent(), 5))  # answered while the check is held
        assert await asyncio.to_thread(check.started.wait, 5)
        answers.append(await recent())  # still running: one check at a time, the old answer again
        assert check.runs == 2
        check.release.set()
        for _ in range(500):
            if (answer := await recent()) == 2:
                break
            await asyncio.sleep(0.01)
        answers.append(answer)
        recent.close()
        return answers

    assert asyncio.run(scenario()) == [1, 1, 1, 2]


def test_a_result_older_than_the_age_and_the_grace_is_not_answered_the_request_waits():
    check, clock = Check(), Clock()

    async def scenario() -> tuple[bool, int]:
        recent = _recent(check, clock)
        await recent()
        check.release.clear()
        clock.now += 6.5  # past max_age + grace: a check that hangs is not hidden
        waiting = asyncio.ensure_future(recent())
        await asyncio.sleep(0.2)
        done_while_held = waiting.done()
        check.release.set()
        answer = await asyncio.wait_for(waiting, 5)
        recent.close()
        return done_while_held, answer

    assert asyncio.run(scenario()) == (False, 2)


def test_concurrent_requests_share_one_check():
    check, clock = Check(), Clock()

    async def scenario() -> list[int]:
        recent = _recent(check, clock)
        answers = await asyncio.gather(*(recent() for _ in range(20)))
        recent.close()
        return list(answers)

    assert asyncio.run(scenario()) == [1] * 20
    assert check.runs == 1


def test_a_negative_age_is_refused():
    with pytest.raises(ValueError, match="max_age_s"):
        RecentCheck(Check(), max_age_s=-1, grace_s=0)
