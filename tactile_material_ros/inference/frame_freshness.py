"""How fresh the classified frames are: the classifier's own account of staleness and latency.

A frame reaches this node some time after its capture (rendering or USB transfer, then
transport); the smallest such age ever seen, ``min_age``, is a lower bound on that delay for
every frame. So the frame captured one period after frame k cannot be here before
``c_k + period + min_age``, and a frame classified as it arrives is *provably the newest* when
it is taken before that: younger than ``period + min_age``. A frame taken later *may* have
had a newer one behind it; those are counted as ``possibly_stale``, an upper bound on stale
frames that needs no other process's clock, only that the camera's stamps and this node's
clock are the same clock (one machine). The camera's period is the median interval of the
last received capture stamps.

Also kept, over the last ``window`` results (65,536 by default: 18 minutes at 60 Hz, in arrays
allocated once, so the node's memory does not grow): the age of each frame when taken (receive
time − capture stamp) and the capture → label-publish latency. All times in seconds in,
milliseconds out (``summary``).
"""

from __future__ import annotations

from collections import deque

import numpy as np

STAMPS_FOR_PERIOD = 61


class _Ring:
    """The last ``size`` values, in a preallocated array."""

    def __init__(self, size: int) -> None:
        self._values = np.zeros(size, np.float64)
        self._count = 0

    def append(self, value: float) -> None:
        self._values[self._count % self._values.size] = value
        self._count += 1

    def values(self) -> np.ndarray:
        return self._values[: min(self._count, self._values.size)]


class FrameFreshness:
    def __init__(self, window: int = 65536) -> None:
        self._stamps: deque[float] = deque(maxlen=STAMPS_FOR_PERIOD)
        self._ages_s = _Ring(window)
        self._latencies_s = _Ring(window)
        self.classified_on_arrival = 0
        self.possibly_stale = 0
        self.min_age_s: float | None = None

    def frame_period_s(self) -> float | None:
        """Median interval of the recent capture stamps; None until two frames came."""
        if len(self._stamps) < 2:
            return None
        intervals = np.diff(np.asarray(self._stamps))
        intervals = intervals[intervals > 0]
        return float(np.median(intervals)) if intervals.size else None

    def received(self, stamp_s: float) -> None:
        self._stamps.append(stamp_s)

    def classified_on_arrival_of(self, stamp_s: float, received_s: float) -> None:
        """A frame was classified in the callback that received it."""
        age = received_s - stamp_s
        self._ages_s.append(age)
        self.classified_on_arrival += 1
        self.min_age_s = age if self.min_age_s is None else min(self.min_age_s, age)
        period = self.frame_period_s()
        if period is not None and age >= period + max(0.0, self.min_age_s):
            self.possibly_stale += 1

    def published(self, stamp_s: float, published_s: float) -> None:
        """A label made from a frame captured at ``stamp_s`` went out at ``published_s``."""
        self._latencies_s.append(published_s - stamp_s)

    def summary(self) -> dict[str, str]:
        """Diagnostics values (milliseconds, over the recent window)."""
        def percentiles(ring: _Ring, which: tuple[int, ...]) -> str:
            values = ring.values()
            if not values.size:
                return "-"
            return " / ".join(f"{1e3 * v:.1f}" for v in np.percentile(values, which))

        period = self.frame_period_s()
        return {
            "camera_frame_period_ms": f"{1e3 * period:.2f}" if period else "-",
            "frame_age_at_take_ms_p50_p99_max": percentiles(self._ages_s, (50, 99, 100)),
            "frame_age_at_take_ms_min": f"{1e3 * self.min_age_s:.1f}" if self.min_age_s is not None else "-",
            "classified_on_arrival": str(self.classified_on_arrival),
            "classified_possibly_stale": str(self.possibly_stale),
            "capture_to_label_ms_p50_p95_p99": percentiles(self._latencies_s, (50, 95, 99)),
            "labels_timed": str(self._latencies_s.values().size),
        }
