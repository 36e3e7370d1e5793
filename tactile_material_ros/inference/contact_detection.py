"""Is something touching the gel? A score against the sensor's no-contact frame, with hysteresis.

The score is meant to carry across DIGIT sensors, whose LED gradients, brightness and
noise differ:

1. both frames are blurred lightly (Gaussian, σ = 1 % of the short side: 2.4 px on a
   240-px-wide frame), which removes pixel noise (σ ≈ 7 grey levels on a DIGIT) but keeps a
   contact's imprint, which is tens of pixels wide;
2. the per-channel median of the difference is subtracted, so a global shift of the LEDs
   or the exposure does not count as contact;
3. per pixel, the length of the colour difference vector (B, G, R) is taken, and the score
   is its 99.5th percentile (the change that the most-changed 0.5 % of the gel shows, so a
   small light press counts as much as a large one and single hot pixels do not), divided
   by the reference's median colour-vector length (its brightness), which makes the score a
   fraction of the sensor's own brightness rather than grey levels of one camera.

On a real DIGIT (sensor_a of the real frames the tests read, one sensor), 31 presses score 0.34-0.75 against its
background and the background with Gaussian noise of σ = 7 scores about 0.017 (σ = 15:
0.036), hence the default thresholds: enter at 0.10, leave below 0.04 (also the level under which
a frame counts as no contact at all, recognition.py: the faintest simulated presses, smooth
flat faces of soft silicone on the domed gel, score 0.05 and up, simulated no-contact frames at
most 0.015, a real background with σ 7 noise added 0.018: a 2x margin).

:class:`ContactDetector` adds hysteresis: contact begins after ``min_frames`` consecutive
frames at or above ``enter_score`` and ends after ``min_frames`` consecutive frames below
``exit_score``, so one touch is one contact even when its score wavers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import cv2
import numpy as np


@dataclass(frozen=True)
class ContactConfig:
    enter_score: float = 0.10
    exit_score: float = 0.04
    min_frames: int = 3
    blur_fraction: float = 0.01     # Gaussian σ as a fraction of the frame's short side
    percentile: float = 99.5

    def __post_init__(self) -> None:
        if not 0.0 < self.enter_score <= 1.0:
            raise ValueError(f"contact_enter_score = {self.enter_score} is outside (0, 1]; it is a fraction of the "
                             "sensor's brightness, typically 0.05-0.2 (`tactile-material contact` shows your scores)")
        if not 0.0 < self.exit_score < self.enter_score:
            raise ValueError(f"contact_exit_score = {self.exit_score} must be in (0, contact_enter_score = "
                             f"{self.enter_score}); set it below the enter score, e.g. 0.6 x enter")
        if not 1 <= self.min_frames <= 100:
            raise ValueError(f"contact_min_frames = {self.min_frames} is outside [1, 100]; 2-5 frames suit 30-60 fps")
        if not 0.0 <= self.blur_fraction <= 0.1:
            raise ValueError(f"blur_fraction = {self.blur_fraction} is outside [0, 0.1]")
        if not 50.0 <= self.percentile <= 100.0:
            raise ValueError(f"percentile = {self.percentile} is outside [50, 100]")


def contact_score(frame: np.ndarray, reference: np.ndarray, config: ContactConfig = ContactConfig()) -> float:
    """How much ``frame`` differs from the no-contact ``reference`` (see the module docstring)."""
    if frame.shape != reference.shape:
        raise ValueError(f"frame {frame.shape} and reference {reference.shape} differ in shape")
    sigma = config.blur_fraction * min(frame.shape[:2])
    a = frame.astype(np.float32)
    b = reference.astype(np.float32)
    if sigma > 0:
        a = cv2.GaussianBlur(a, (0, 0), sigma)
        b = cv2.GaussianBlur(b, (0, 0), sigma)
    diff = (a - b).reshape(-1, a.shape[2] if a.ndim == 3 else 1)
    diff -= np.median(diff, axis=0)
    change = np.linalg.norm(diff, axis=1)
    brightness = float(np.median(np.linalg.norm(b.reshape(diff.shape), axis=1)))
    return float(np.percentile(change, config.percentile) / max(brightness, 1.0))


class ContactEvent(Enum):
    NONE = "none"
    STARTED = "started"
    ENDED = "ended"


class ContactDetector:
    """Hysteresis over a stream of contact scores: one touch, one STARTED and one ENDED."""

    def __init__(self, config: ContactConfig = ContactConfig()) -> None:
        self.config = config
        self.in_contact = False
        self._streak = 0  # consecutive frames arguing for the other state

    def update(self, score: float) -> ContactEvent:
        if self.in_contact:
            arguing = score < self.config.exit_score
        else:
            arguing = score >= self.config.enter_score
        self._streak = self._streak + 1 if arguing else 0
        if self._streak < self.config.min_frames:
            return ContactEvent.NONE
        self._streak = 0
        self.in_contact = not self.in_contact
        return ContactEvent.STARTED if self.in_contact else ContactEvent.ENDED
