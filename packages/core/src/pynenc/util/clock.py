"""The one source of time for pynenc.

Every time-based decision (retry delays, recovery timeouts, heartbeats, atomic-service slots,
cron ticks) asks the app's clock, so tests can replace it with :class:`FakeClock` and move time
forward deterministically instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class Clock:
    """Wall-clock time in UTC plus a monotonic counter for measuring durations."""

    def time(self) -> float:
        """Seconds since the epoch."""
        return time.time()

    def now(self) -> datetime:
        """The current time as an aware UTC datetime."""
        return datetime.fromtimestamp(self.time(), UTC)

    def monotonic(self) -> float:
        """A counter for durations and deadlines; never goes backwards."""
        return time.monotonic()

    def wait(self, event: threading.Event, timeout: float) -> bool:
        """Wait on ``event`` for up to ``timeout`` seconds of this clock's time."""
        return event.wait(timeout)

    def wait_until(self, event: threading.Event, deadline: float) -> bool:
        """Wait on ``event`` until :meth:`monotonic` reaches ``deadline``; for loops on a fixed
        cadence, which must not drift when time moves between reading it and waiting."""
        return self.wait(event, max(0.0, deadline - self.monotonic()))


class FakeClock(Clock):
    """A clock that only moves when told to; thread-safe.

    ``wait`` returns as soon as the event is set or the fake time passes the deadline, so code
    that waits for a delay wakes when a test advances the clock.
    """

    def __init__(self, start: datetime | float | None = None) -> None:
        if start is None:
            start = datetime(2030, 1, 1, tzinfo=UTC)
        self._now = start.timestamp() if isinstance(start, datetime) else float(start)
        self._mono = 0.0
        self._changed = threading.Condition()

    def time(self) -> float:
        with self._changed:
            return self._now

    def monotonic(self) -> float:
        with self._changed:
            return self._mono

    def advance(self, seconds: float) -> None:
        """Move time forward and wake everything waiting on this clock."""
        if seconds < 0:
            raise ValueError("a FakeClock cannot go backwards")
        with self._changed:
            self._now += seconds
            self._mono += seconds
            self._changed.notify_all()

    def set(self, when: datetime) -> None:
        """Jump to an absolute time (forward only)."""
        self.advance(when.timestamp() - self.time())

    def wait(self, event: threading.Event, timeout: float) -> bool:
        return self.wait_until(event, self.monotonic() + timeout)

    def wait_until(self, event: threading.Event, deadline: float) -> bool:
        while not event.is_set():
            with self._changed:
                if self._mono >= deadline:
                    return event.is_set()
                self._changed.wait(0.01)
        return True
