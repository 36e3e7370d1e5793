"""The frame source protocol: where tactile frames come from (DIGIT hardware, a recording, the simulation).

A source is opened once, read in a loop and closed. ``read()`` blocks until the next frame
is due and returns it with its capture time (seconds since the epoch, the clock ROS stamps
use); hardware paces itself, the replay and simulated sources pace with a ``FramePacer``
so that every source streams at its rate. Errors that stop a source are ``FrameSourceError``
with a message naming the device and the fix.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


class FrameSourceError(RuntimeError):
    """A frame source cannot open or deliver frames; the message names the device and the fix."""


@dataclass(frozen=True)
class SourceInfo:
    """What a source is, for logs and /diagnostics."""

    kind: str            # digit | replay | sim
    device: str          # serial, file/folder path, or the simulated sensor's description
    width: int
    height: int
    fps: float


@runtime_checkable
class FrameSource(Protocol):
    @property
    def info(self) -> SourceInfo: ...

    def open(self) -> None: ...

    def read(self) -> tuple[np.ndarray, float]:
        """The next frame (uint8 BGR, portrait) and its capture time [s since the epoch]."""
        ...

    def close(self) -> None: ...


class FramePacer:
    """Ticks at a fixed rate: ``wait()`` sleeps until the next tick.

    A caller that falls behind by more than a tick skips the missed ticks (the gap shows as
    dropped frames in the capture times) rather than making them up in a burst, as a camera does.
    """

    def __init__(self, rate_hz: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not rate_hz > 0:
            raise ValueError(f"frame rate must be > 0 Hz, got {rate_hz}")
        self.period_s = 1.0 / rate_hz
        self._clock = clock
        self._sleep = sleep
        self._next: float | None = None

    def wait(self) -> None:
        now = self._clock()
        if self._next is None:
            self._next = now
        elif now > self._next + self.period_s:
            self._next += int((now - self._next) / self.period_s) * self.period_s
        delay = self._next - now
        if delay > 0:
            self._sleep(delay)
        self._next += self.period_s
