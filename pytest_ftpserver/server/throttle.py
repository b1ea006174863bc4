"""Speed limits: shared virtual-clock buckets, no timers of their own."""

from __future__ import annotations

import time
from collections.abc import Sequence


class Throttle:
    """A rate in bytes per second, shared by everyone who consumes from it.

    Each consumer adds its bytes to a virtual clock that runs ``bytes / rate`` ahead; the
    delay it must wait is how far that clock is ahead of now. Concurrent transfers sharing
    one throttle thus interleave their blocks and get equal shares. Idle time earns no
    credit, so a burst never exceeds one block.
    """

    __slots__ = ("_clock", "rate")

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError(f"speed limit must be positive, got {rate!r}")
        self.rate = float(rate)
        self._clock = 0.0

    def consume(self, nbytes: int, now: float) -> float:
        """Account for ``nbytes`` moved at ``now``; return the seconds to wait afterwards."""
        start = self._clock if self._clock > now else now
        self._clock = start + nbytes / self.rate
        return self._clock - now


class ThrottleGroup:
    """The throttles that apply to one transfer (server/user, global/per connection)."""

    __slots__ = ("block_size", "throttles")

    def __init__(self, throttles: Sequence[Throttle]) -> None:
        self.throttles = tuple(throttles)
        slowest = min(t.rate for t in self.throttles)
        # About 20 blocks a second at the slowest rate keeps the error of a transfer's
        # duration within one twentieth of a second, whatever its size.
        self.block_size = max(1024, min(256 * 1024, int(slowest / 20)))

    def consume(self, nbytes: int) -> float:
        now = time.monotonic()
        return max(t.consume(nbytes, now) for t in self.throttles)
