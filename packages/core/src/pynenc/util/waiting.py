"""Adaptive backoff for backends that cannot notify: react fast, then back off when idle."""

from __future__ import annotations

import threading


class AdaptiveBackoff:
    """Sleeps that start short and double up to ``maximum``; :meth:`reset` after finding work.

    A waiter wakes within ``initial`` seconds of new work while busy and costs little while idle.
    An optional ``stop`` event ends a sleep early.
    """

    def __init__(
        self, initial: float = 0.0005, maximum: float = 0.1, stop: threading.Event | None = None
    ) -> None:
        self.initial = initial
        self.maximum = maximum
        self.current = initial
        self._stop = stop or threading.Event()

    def reset(self) -> None:
        self.current = self.initial

    def next_delay(self) -> float:
        delay = self.current
        self.current = min(self.maximum, self.current * 2)
        return delay

    def sleep(self, at_most: float | None = None) -> bool:
        """Wait for the next delay (capped by ``at_most``); True if the stop event was set."""
        delay = self.next_delay()
        if at_most is not None:
            delay = min(delay, max(0.0, at_most))
        return self._stop.wait(delay)
