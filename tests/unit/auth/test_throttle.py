"""Failed-login slowdown: per client, doubling, forgotten after the window."""

from __future__ import annotations

from sealedreg.auth.throttle import Throttle


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_allowed_failures_then_doubling_waits():
    clock = Clock()
    th = Throttle(allowed=3, window=300, base_delay=1, max_delay=8, clock=clock)
    for _ in range(3):
        assert th.retry_after("a") == 0
        th.failed("a")
    assert th.retry_after("a") == 1
    clock.t += 1
    assert th.retry_after("a") == 0
    th.failed("a")
    assert th.retry_after("a") == 2
    clock.t += 2
    th.failed("a")
    assert th.retry_after("a") == 4
    clock.t += 4
    th.failed("a")
    th.failed("a")
    assert th.retry_after("a") == 8  # capped
    clock.t += 0.5
    assert th.retry_after("a") == 8  # rounds up: never tells a client to come back early


def test_other_clients_unaffected():
    clock = Clock()
    th = Throttle(allowed=2, clock=clock)
    for _ in range(10):
        th.failed("attacker")
    assert th.retry_after("attacker") > 0
    assert th.retry_after("someone-else") == 0


def test_window_forgets():
    clock = Clock()
    th = Throttle(allowed=2, window=60, clock=clock)
    for _ in range(5):
        th.failed("a")
    assert th.retry_after("a") > 0
    clock.t += 61
    assert th.retry_after("a") == 0
    th.failed("a")
    assert th.retry_after("a") == 0


def test_memory_bounded():
    th = Throttle(allowed=1, max_clients=100)
    for i in range(1000):
        th.failed(f"10.0.{i // 256}.{i % 256}")
    assert len(th._clients) == 100
    for _ in range(10_000):
        th.failed("x")
    assert len(th._clients["x"].failures) <= th.allowed + 64


def test_checks_in_flight_count():
    clock = Clock()
    th = Throttle(allowed=3, clock=clock)
    for _ in range(3):
        assert th.retry_after("a") == 0
        th.begin("a")
    assert th.retry_after("a") == 1  # three guesses still being checked: the fourth waits
    assert th.retry_after("b") == 0
    th.end("a")
    assert th.retry_after("a") == 0
    th.failed("a")
    th.end("a")
    th.failed("a")
    th.end("a")
    assert th.retry_after("a") == 0 and not th._pending
