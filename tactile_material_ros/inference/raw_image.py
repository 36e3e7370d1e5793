"""Raw image buffers (the fields of a sensor_msgs/Image) <-> BGR ndarrays, with every check.

Every node that reads images calls :func:`frame_from_fields` with the message's fields, so a
malformed message (unknown encoding, wrong size, a step that does not fit the row, data of
the wrong length) is refused in one place with one clear reason. This module takes plain
values, not messages: it does not import rclpy.
"""

from __future__ import annotations

from array import array

import cv2
import numpy as np

# encoding -> (bytes per pixel, conversion to BGR or None when already BGR)
ENCODINGS: dict[str, tuple[int, int | None]] = {
    "bgr8": (3, None),
    "rgb8": (3, cv2.COLOR_RGB2BGR),
    "bgra8": (4, cv2.COLOR_BGRA2BGR),
    "rgba8": (4, cv2.COLOR_RGBA2BGR),
}
MAX_SIDE_PX = 8192
ByteData = bytes | bytearray | memoryview | array  # what an Image's uint8[] data field can be


class ImageFormatError(ValueError):
    """An image message cannot be read as a frame; the message says which field is wrong."""


def frame_from_fields(
    encoding: str,
    height: int,
    width: int,
    step: int,
    data: ByteData,
    expected_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """A contiguous uint8 BGR frame of shape (height, width, 3), copied out of ``data``.

    ``expected_size`` is (width, height) when the consumer needs one resolution (the
    classifier needs the resolution of its no-contact reference). Rows may be padded
    (``step`` > width x bytes per pixel), as sensor_msgs/Image allows.
    """
    if encoding not in ENCODINGS:
        raise ImageFormatError(f"unsupported encoding {encoding!r}; expected one of {', '.join(ENCODINGS)}")
    channels, conversion = ENCODINGS[encoding]
    if not (0 < height <= MAX_SIDE_PX and 0 < width <= MAX_SIDE_PX):
        raise ImageFormatError(f"image size {width}x{height} is outside 1..{MAX_SIDE_PX} px per side")
    if expected_size is not None and (width, height) != tuple(expected_size):
        raise ImageFormatError(f"image is {width}x{height} px, expected {expected_size[0]}x{expected_size[1]} px")
    row_bytes = width * channels
    if step < row_bytes:
        raise ImageFormatError(f"step {step} B is shorter than one {encoding} row of {width} px ({row_bytes} B)")
    buffer = np.frombuffer(data, dtype=np.uint8)
    if buffer.size != step * height:
        raise ImageFormatError(f"data holds {buffer.size} B, step x height = {step} x {height} = {step * height} B")
    rows = buffer.reshape(height, step)[:, :row_bytes].reshape(height, width, channels)
    if conversion is None:
        return np.array(rows, copy=True, order="C")
    return cv2.cvtColor(np.ascontiguousarray(rows), conversion)


def fields_from_frame(frame: np.ndarray) -> tuple[str, int, int, int, bytes]:
    """(encoding, height, width, step, data) of a uint8 BGR frame, to fill a sensor_msgs/Image."""
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ImageFormatError(f"need a uint8 HxWx3 BGR frame, got shape {frame.shape} dtype {frame.dtype}")
    height, width = frame.shape[:2]
    return "bgr8", height, width, width * 3, np.ascontiguousarray(frame).tobytes()
