"""Frames replayed from a recording: a folder of images (sorted by name), a video file, or a rosbag2 bag, looping.

A bag (a folder with metadata.yaml, or its .mcap file, as the palpation recorder writes them)
gives its ``digit/image_raw`` frames and its ``recording/reference`` no-contact frames in stamp
order, so each recorded cycle replays as: nothing touching, then its presses.

Replay paces itself at a set rate, so a recording stands in for a live sensor. Frames are
checked to be BGR images of one size; a landscape frame (as a DIGIT streams before
``get_frame`` transposes it) is turned to portrait the same way digit_interface does it.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import cv2
import numpy as np

from tactile_material_ros.recording.palpation_bag import IMAGE_TOPIC, REFERENCE_TOPIC, BagError, is_bag, read_images
from tactile_material_ros.sensing.frame_source import FramePacer, FrameSourceError, SourceInfo

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def to_portrait(frame: np.ndarray) -> np.ndarray:
    """A landscape frame turned to portrait as ``Digit.get_frame()`` does (transpose, then flip rows)."""
    if frame.shape[1] > frame.shape[0]:
        return np.ascontiguousarray(cv2.flip(cv2.transpose(frame), 0))
    return frame


class ReplaySource:
    """Loops over the frames of ``path`` at ``rate_hz``."""

    def __init__(self, path: str | Path, rate_hz: float) -> None:
        self.path = Path(path)
        self.rate_hz = float(rate_hz)
        self._pacer = FramePacer(rate_hz)
        self._frames: list[np.ndarray] = []
        self._video: cv2.VideoCapture | None = None
        self._index = 0
        self._info = SourceInfo("replay", str(self.path), 0, 0, self.rate_hz)

    @property
    def info(self) -> SourceInfo:
        return self._info

    def open(self) -> None:
        if is_bag(self.path):
            try:
                images = read_images(self.path, (IMAGE_TOPIC, REFERENCE_TOPIC))
            except BagError as exc:
                raise FrameSourceError(str(exc)) from None
            if not images:
                raise FrameSourceError(f"replay bag {self.path} holds no images on {IMAGE_TOPIC} or "
                                       f"{REFERENCE_TOPIC}; record it with the camera streaming")
            self._frames = [to_portrait(i.image) for i in images]
            self._check_sizes()
            first = self._frames[0]
        elif self.path.is_dir():
            files = sorted(p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise FrameSourceError(f"replay folder {self.path} holds no images ({', '.join(IMAGE_SUFFIXES)}); "
                                       "point replay_path at a folder of frames or a video file")
            for f in files:
                image = cv2.imread(str(f), cv2.IMREAD_COLOR)
                if image is None:
                    raise FrameSourceError(f"replay frame {f} cannot be read as an image; remove it or re-save it")
                self._frames.append(to_portrait(image))
            self._check_sizes()
            first = self._frames[0]
        elif self.path.is_file():
            self._video = cv2.VideoCapture(str(self.path))
            ok, first = self._video.read() if self._video.isOpened() else (False, None)
            if not ok:
                raise FrameSourceError(f"replay video {self.path} cannot be decoded by OpenCV; convert it "
                                       "(e.g. `ffmpeg -i IN -c:v mjpeg OUT.avi`) or extract its frames to a folder")
            first = to_portrait(first)
            self._video.set(cv2.CAP_PROP_POS_FRAMES, 0)
        else:
            raise FrameSourceError(f"replay_path {self.path} does not exist; give a folder of frames or a video file")
        self._info = SourceInfo("replay", str(self.path), first.shape[1], first.shape[0], self.rate_hz)
        log.info("replaying %s (%dx%d) at %.1f Hz, looping", self.path, first.shape[1], first.shape[0], self.rate_hz)

    def _check_sizes(self) -> None:
        sizes = {fr.shape for fr in self._frames}
        if len(sizes) > 1:
            raise FrameSourceError(f"replay frames in {self.path} differ in size ({sorted(sizes)}); "
                                   "a sensor streams one resolution")

    def _next_frame(self) -> np.ndarray:
        if self._video is None:
            if not self._frames:
                raise FrameSourceError(f"replay {self.path} is not open: call open() first")
            frame = self._frames[self._index % len(self._frames)]
            self._index += 1
            return frame.copy()
        ok, frame = self._video.read()
        if not ok:  # end of the video: loop
            self._video.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self._video.read()
            if not ok:
                raise FrameSourceError(f"replay video {self.path} stopped decoding")
        return to_portrait(frame)

    def read(self) -> tuple[np.ndarray, float]:
        self._pacer.wait()
        frame = self._next_frame()
        return frame, time.time()

    def close(self) -> None:
        if self._video is not None:
            self._video.release()
            self._video = None
        self._frames = []
