"""How fresh the classified frames are: the classifier's own account of staleness and latency.

A frame classified as it arrives is *stale* when a newer frame had already reached this node
when it was taken. The account decides that for each classified frame from what the
middleware reports with every message (rclpy's ``MessageInfo``: when it was received, and the
publisher's sequence number), all on one clock (the camera's stamps and this node's clock:
one machine):

- when the next frame the publisher sent (sequence + 1) arrives, its arrival time is compared
  with the take time of the classified one: arrived later, the classified frame is *verified
  newest*; arrived earlier, it was *stale*.
- when that next frame never reaches the callback (the one-deep queue replaced it with a
  newer one, or it was lost), the first frame that does arrive decides if it arrived before
  the take (then *stale*); otherwise the frame is *unverified*, and is counted *possibly
  stale* when the period bound below cannot rule it out.
- without that information (another middleware, or a caller without it), the period bound
  decides alone: the frame one camera period after frame k cannot be here before
  ``c_k + period + min_delivery`` (``min_delivery``: the least capture → arrival delay seen), so
  a frame taken before that is the newest, and later ones are *possibly stale*.

Also kept, over the last ``window`` values (65,536 by default: 18 minutes at 60 Hz, in arrays
allocated once, so the node's memory does not grow): each classified frame's age when taken
(take time − capture stamp), its wait in the middleware's queue (take − arrival), and the
capture → label-publish latency of every label. Times in seconds in, milliseconds out
(``summary``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

STAMPS_FOR_PERIOD = 61


@dataclass(frozen=True)
class Delivery:
    """How one frame reached the classifier; seconds on the capture stamps' clock."""

    taken_s: float                  # the node's callback started with it
    arrived_s: float | None = None  # the middleware received it (MessageInfo received_timestamp)
    sequence: int | None = None     # the publisher's sequence number (MessageInfo publication_sequence_number)


@dataclass(frozen=True)
class _Taken:
    stamp_s: float
    taken_s: float
    sequence: int


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
        self._waits_s = _Ring(window)
        self._latencies_s = _Ring(window)
        self._awaiting_successor: _Taken | None = None
        self._last_sequence: int | None = None
        self.classified_on_arrival = 0
        self.verified_newest = 0
        self.stale = 0
        self.unverified = 0
        self.possibly_stale = 0     # unverified (or without delivery information) and past the period bound
        self.never_taken = 0        # gaps in the sequence numbers: replaced in the queue, or lost
        self.min_delivery_s: float | None = None

    def frame_period_s(self) -> float | None:
        """Median interval of the recent capture stamps; None until two frames came."""
        if len(self._stamps) < 2:
            return None
        intervals = np.diff(np.asarray(self._stamps))
        intervals = intervals[intervals > 0]
        return float(np.median(intervals)) if intervals.size else None

    def received(self, stamp_s: float, delivery: Delivery, classified: bool) -> None:
        """A frame reached the callback; ``classified``: it was classified there and then."""
        self._stamps.append(stamp_s)
        arrived_s = delivery.arrived_s if delivery.arrived_s is not None else delivery.taken_s
        delay = arrived_s - stamp_s
        self.min_delivery_s = delay if self.min_delivery_s is None else min(self.min_delivery_s, delay)
        if delivery.sequence is not None and delivery.arrived_s is not None:
            self._settle_predecessor(delivery.sequence, delivery.arrived_s)
        if not classified:
            return
        self.classified_on_arrival += 1
        self._ages_s.append(delivery.taken_s - stamp_s)
        if delivery.arrived_s is not None:
            self._waits_s.append(delivery.taken_s - delivery.arrived_s)
        if delivery.sequence is not None and delivery.arrived_s is not None:
            self._awaiting_successor = _Taken(stamp_s, delivery.taken_s, delivery.sequence)
        elif self._past_period_bound(stamp_s, delivery.taken_s):
            self.possibly_stale += 1

    def _settle_predecessor(self, sequence: int, arrived_s: float) -> None:
        last, self._last_sequence = self._last_sequence, sequence
        if last is not None and sequence > last + 1:
            self.never_taken += sequence - last - 1
        taken, self._awaiting_successor = self._awaiting_successor, None
        if taken is None:
            return
        if sequence <= taken.sequence:      # a new publisher (the camera restarted): nothing to compare
            self._unverified(taken)
        elif arrived_s <= taken.taken_s:    # a newer frame was here when that one was taken
            self.stale += 1
        elif sequence == taken.sequence + 1:
            self.verified_newest += 1
        else:                               # its successor never came through; this later one came after the take
            self._unverified(taken)

    def _unverified(self, taken: _Taken) -> None:
        self.unverified += 1
        if self._past_period_bound(taken.stamp_s, taken.taken_s):
            self.possibly_stale += 1

    def _past_period_bound(self, stamp_s: float, taken_s: float) -> bool:
        """Taken late enough after its capture that the next frame could have been here."""
        period = self.frame_period_s()
        return period is not None and taken_s - stamp_s >= period + max(0.0, self.min_delivery_s or 0.0)

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
            "frame_wait_in_queue_ms_p50_p99_max": percentiles(self._waits_s, (50, 99, 100)),
            "frame_delivery_ms_min": f"{1e3 * self.min_delivery_s:.1f}" if self.min_delivery_s is not None else "-",
            "classified_on_arrival": str(self.classified_on_arrival),
            "classified_verified_newest": str(self.verified_newest),
            "classified_stale": str(self.stale),
            "classified_unverified": str(self.unverified),
            "classified_possibly_stale": str(self.possibly_stale),
            "frames_never_taken": str(self.never_taken),
            "capture_to_label_ms_p50_p95_p99": percentiles(self._latencies_s, (50, 95, 99)),
            "labels_timed": str(self._latencies_s.values().size),
        }
