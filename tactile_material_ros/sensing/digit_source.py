"""Frames from a DIGIT on USB, through ``digit_interface`` (imported here only, when opened).

digit_interface 0.2: ``Digit(serial)`` finds the device by its serial through udev (and
raises a plain ``Exception`` when none matches), ``connect()`` opens the video device,
``set_resolution(Digit.STREAMS[name])``, ``set_fps(fps)`` and ``set_intensity(0..15)`` set the
stream, ``get_frame()`` returns a portrait BGR frame (transposed from the sensor's
landscape), ``disconnect()`` releases it; ``DigitHandler.list_digits()`` lists the
connected DIGITs. Every failure becomes a ``FrameSourceError`` naming the serial and the fix.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from tactile_material_ros.sensing.frame_source import FrameSourceError, SourceInfo

log = logging.getLogger(__name__)

# (rows, columns) of a portrait frame, and the frame rates, per DIGIT stream
DIGIT_STREAMS: dict[str, tuple[tuple[int, int], tuple[int, ...]]] = {
    "QVGA": ((320, 240), (60, 30)),
    "VGA": ((640, 480), (30, 15)),
}
INTENSITY_RANGE = (0, 15)

ACCESS_FIX = (
    "Check that the DIGIT is plugged in with a USB data cable (charge-only cables carry no video; use a "
    "USB 2.0 or faster port, not an unpowered hub), and that your user may open it: add yourself to the "
    "plugdev group (`sudo adduser $USER plugdev`), install the udev rule 50-DIGIT.rules from the "
    "digit-interface repository into /lib/udev/rules.d/, run `sudo udevadm control --reload && sudo udevadm "
    "trigger`, then re-plug the sensor."
)


class DigitSource:
    """A DIGIT tactile sensor, by serial number."""

    def __init__(self, serial: str, resolution: str = "QVGA", fps: int = 60, intensity: int = 15) -> None:
        if resolution not in DIGIT_STREAMS:
            raise ValueError(f"resolution {resolution!r} is not a DIGIT stream; use one of {', '.join(DIGIT_STREAMS)}")
        (rows, cols), rates = DIGIT_STREAMS[resolution]
        if fps not in rates:
            raise ValueError(f"fps {fps} is not a DIGIT {resolution} rate; use one of {', '.join(map(str, rates))}")
        self.serial = serial
        self.resolution = resolution
        self.fps = fps
        self.intensity = intensity
        self._info = SourceInfo("digit", serial, cols, rows, float(fps))
        self._digit: Any = None

    @property
    def info(self) -> SourceInfo:
        return self._info

    def open(self) -> None:
        try:
            from digit_interface import Digit, DigitHandler
        except ImportError as exc:
            raise FrameSourceError(
                f"cannot open DIGIT {self.serial}: the digit_interface library is not installed ({exc}). "
                "Fix: `pip install digit-interface==0.2.1` in this environment.") from None
        # digit_interface reports every failure as a bare Exception; each is translated, none is dropped
        try:
            digit = Digit(self.serial)
        except Exception as exc:  # the library's only error type
            raise FrameSourceError(
                f"DIGIT {self.serial} was not found ({exc}); connected DIGITs: {self._connected(DigitHandler)}. "
                f"{ACCESS_FIX}") from None
        try:
            digit.connect()
            digit.set_resolution(Digit.STREAMS[self.resolution])
            digit.set_fps(self.fps)
            digit.set_intensity(self.intensity)
        except Exception as exc:
            raise FrameSourceError(f"DIGIT {self.serial} was found but its video stream did not open ({exc}). "
                                   f"{ACCESS_FIX}") from None
        self._digit = digit
        log.info("DIGIT %s streaming %s at %d fps, LED intensity %d", self.serial, self.resolution, self.fps,
                 self.intensity)

    @staticmethod
    def _connected(handler: Any) -> str:
        try:
            found = [d.get("serial", "?") for d in handler.list_digits()]
        except Exception as exc:  # listing only serves the message
            return f"unknown (listing failed: {exc})"
        return ", ".join(found) or "none"

    def read(self) -> tuple[np.ndarray, float]:
        if self._digit is None:
            raise FrameSourceError(f"DIGIT {self.serial} is not open: call open() first")
        try:
            frame = self._digit.get_frame()
        except Exception as exc:
            raise FrameSourceError(f"DIGIT {self.serial} stopped delivering frames ({exc}). {ACCESS_FIX}") from None
        return np.ascontiguousarray(frame), time.time()

    def close(self) -> None:
        if self._digit is not None:
            try:
                self._digit.disconnect()
            finally:
                self._digit = None
