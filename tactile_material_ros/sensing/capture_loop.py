"""The capture loop: reads a frame source on its own thread and hands each frame on.

It owns what a camera driver needs beyond the source itself: the measured frame rate over
a sliding window, dropped frames (gaps in the capture times longer than 1.5 frame periods),
reconnecting after a device error, and the no-contact reference capture (the median of the
next N frames, on request, waited for with a timeout).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tactile_material_ros.inference.live_classifier import ReferenceFrame
from tactile_material_ros.sensing.frame_source import FrameSource, FrameSourceError

log = logging.getLogger(__name__)

RATE_WINDOW_S = 2.0
RECONNECT_DELAY_S = 1.0


class CaptureTimeout(TimeoutError):
    """Frames did not arrive in time; the message says what was waited for and how long."""


@dataclass(frozen=True)
class CaptureStats:
    connected: bool
    frames: int
    dropped: int
    rate_hz: float
    last_error: str


class CaptureLoop:
    """Streams ``source`` into ``on_frame(frame, capture_time_s)`` until stopped."""

    def __init__(self, source: FrameSource, on_frame: Callable[[np.ndarray, float], None], rate_hz: float) -> None:
        self.source = source
        self.on_frame = on_frame
        self.period_s = 1.0 / rate_hz
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Condition()
        self._times: deque[float] = deque()
        self._frames = 0
        self._dropped = 0
        self._connected = False
        self._last_error = ""
        self._reference: ReferenceFrame | None = None

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Open the source (a FrameSourceError here means the node cannot start) and start the thread."""
        self.source.open()
        self._connected = True
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.source.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._connected and not self._reconnect():
                continue
            try:
                frame, stamp = self.source.read()
            except FrameSourceError as exc:
                log.error("%s", exc)
                with self._lock:
                    self._connected, self._last_error = False, str(exc)
                self.source.close()
                continue
            self._count(stamp)
            self._offer_reference(frame)
            self.on_frame(frame, stamp)

    def _reconnect(self) -> bool:
        if self._stop.wait(RECONNECT_DELAY_S):
            return False
        try:
            self.source.open()
        except FrameSourceError as exc:
            with self._lock:
                self._last_error = str(exc)
            return False
        with self._lock:
            self._connected = True
            self._times.clear()
        log.info("%s reconnected", self.source.info.device)
        return True

    # ------------------------------------------------------------------ statistics

    def _count(self, stamp: float) -> None:
        with self._lock:
            if self._times:
                gap = stamp - self._times[-1]
                if gap > 1.5 * self.period_s:
                    self._dropped += max(0, round(gap / self.period_s) - 1)
            self._times.append(stamp)
            while self._times and stamp - self._times[0] > RATE_WINDOW_S:
                self._times.popleft()
            self._frames += 1

    def stats(self) -> CaptureStats:
        with self._lock:
            span = self._times[-1] - self._times[0] if len(self._times) > 1 else 0.0
            rate = (len(self._times) - 1) / span if span > 0 else 0.0
            return CaptureStats(self._connected, self._frames, self._dropped, rate, self._last_error)

    # ------------------------------------------------------------------ reference

    def _offer_reference(self, frame: np.ndarray) -> None:
        with self._lock:
            if self._reference is not None:
                self._reference.offer(frame)
                if not self._reference.capturing:
                    self._lock.notify_all()

    @property
    def reference_pending(self) -> bool:
        """A reference capture is waiting for frames."""
        with self._lock:
            return self._reference is not None

    def capture_reference(self, frames: int, timeout_s: float) -> np.ndarray:
        """The median of the next ``frames`` frames (raises CaptureTimeout if they do not come)."""
        reference = ReferenceFrame(frames)
        reference.capture_next("capture_reference")
        with self._lock:
            self._reference = reference
            done = self._lock.wait_for(lambda: not reference.capturing, timeout_s)
            self._reference = None
        if not done or reference.image is None:
            raise CaptureTimeout(f"waited {timeout_s:.1f} s for {frames} frames from {self.source.info.device} "
                                 "to make the no-contact reference; is the source streaming?")
        return reference.image


def save_frame(frame: np.ndarray, path: str | Path) -> Path:
    """Write a BGR frame as an image (the folder is created); returns the absolute path."""
    path = Path(path).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), frame):
        raise OSError(f"cannot write the frame to {path}: use a .png path in a writable folder")
    return path
