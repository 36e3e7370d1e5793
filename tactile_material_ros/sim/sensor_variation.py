"""What differs between real DIGITs and gels, drawn per simulated sensor.

The renderer (``digit_renderer``) draws one nominal gel and camera. Real sensors differ in
how strongly a contact shows (gel stiffness and thickness, LED brightness), in LED hue, in
camera gain and sharpness, in the gradient of their no-contact image and in noise. A
:class:`SensorVariation` is one such sensor, applied to a rendered frame and its no-contact
background alike:

    background' = gain · (background · led_gain + gradient)
    frame'      = background' + gain · led_gain · strength · blur(frame - background) + noise

One more difference is geometric and so belongs to the renderer, not to this image-space
transform: the gel's dome (``dome_radius_m``, cast gels differ in their meniscus), which
``learning/synth.py`` hands to the ``DigitRenderer`` of each simulated sensor.

The frame and background given are the renderer's noiseless ones (``noise_sigma=0``): the
camera's noise comes last, after the optics' blur, as in a camera. Like the renderer's, it is
white (independent per pixel and channel); a real camera's is not (demosaicing, MJPEG): see
``inference/contact_signature.py``, which tells the two apart.

Calibration (``tools/fit_contact_strength.py``): on the real DIGIT presses of a small sphere
that the package compares against (sensor_a: 31 presses), the mean |frame − reference| over
the frame is 6.0–10.8 grey levels (median 8.1); the renderer gives 9.9–19.6 (median 13.8) for
steel spheres of 4 and 8 mm radius at 10 and 24 N on six simulated sensors. Hence the
nominal contact strength ``NOMINAL_STRENGTH`` = 8.1 / 13.8 ≈ 0.59; sensors are drawn
log-uniformly from 0.6× to 1.6× that (sensor_a's own presses span 0.74–1.33× its median), so
the real sensor lies inside and the model cannot
learn one contrast.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from tactile_material_ros.sim.contact_model import DIGIT_DOME_RADIUS_M
from tactile_material_ros.sim.sensor_noise import standard_normal

NOMINAL_STRENGTH = 0.59
STRENGTH_SPREAD = (0.6, 1.6)       # × nominal, log-uniform
LED_GAIN_RANGE = (0.8, 1.2)        # per channel
CAMERA_GAIN_RANGE = (0.85, 1.15)
BLUR_RANGE_PX = (0.0, 1.2)         # Gaussian σ of the camera / gel blur
GRADIENT_RANGE = 12.0              # grey levels at the frame's edge, random direction
EXTRA_NOISE_RANGE = (0.0, 2.5)     # grey levels on top of the renderer's own
# The gel's dome radius, log-uniform about TACTO's 0.1 m: a sag of 0.7-1.1 mm at the field's
# corners. Modest, because a flatter gel hides a soft flat face (Shore 30A silicone at 24 N on
# a 0.15 m dome scores 0.056, near the 0.04 contact gate, on the nominal sensor).
DOME_RADIUS_RANGE_M = (0.08, 0.125)


@dataclass(frozen=True)
class SensorVariation:
    strength: float = NOMINAL_STRENGTH
    led_gain: tuple[float, float, float] = (1.0, 1.0, 1.0)   # B, G, R
    camera_gain: float = 1.0
    blur_px: float = 0.0
    gradient: tuple[float, float] = (0.0, 0.0)                # grey levels across x, across y
    extra_noise: float = 0.0
    noise_sigma: float = 0.0       # the camera's own noise [grey levels], added with extra_noise
    dome_radius_m: float = DIGIT_DOME_RADIUS_M   # the gel's dome, for the renderer (not used by apply)

    def __post_init__(self) -> None:
        if not 0.05 <= self.strength <= 3.0:
            raise ValueError(f"strength {self.strength} is outside [0.05, 3]")
        if not 0.02 <= self.dome_radius_m:
            raise ValueError(f"dome_radius_m {self.dome_radius_m} is below 0.02 m (a gel domed over its own width); "
                             "use ~0.1 m, or math.inf for a flat gel")
        if (min(self.led_gain) <= 0 or self.camera_gain <= 0 or self.blur_px < 0 or self.extra_noise < 0
                or self.noise_sigma < 0):
            raise ValueError(f"invalid sensor variation {self}")

    def to_dict(self) -> dict[str, object]:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    def _gradient(self, shape: tuple[int, ...]) -> np.ndarray:
        rows, cols = shape[:2]
        y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
        return self.gradient[0] * (x / cols - 0.5) * 2 + self.gradient[1] * (y / rows - 0.5) * 2

    def apply_background(self, background: np.ndarray) -> np.ndarray:
        return np.clip(self._background(background.astype(np.float32)), 0, 255).astype(np.uint8)

    def _background(self, background: np.ndarray) -> np.ndarray:
        led = np.asarray(self.led_gain, dtype=np.float32)
        return self.camera_gain * (background * led + self._gradient(background.shape)[..., None])

    def apply(self, frame: np.ndarray, background: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``frame`` as this sensor would show it; ``background`` is the renderer's noiseless no-contact frame."""
        bg = background.astype(np.float32)
        change = frame.astype(np.float32) - bg
        if self.blur_px > 0.05:
            change = cv2.GaussianBlur(change, (0, 0), self.blur_px)
        led = np.asarray(self.led_gain, dtype=np.float32)
        out = self._background(bg) + self.camera_gain * led * self.strength * change
        sigma = float(np.hypot(self.noise_sigma, self.extra_noise))
        if sigma > 0:
            out += sigma * standard_normal(rng, out.shape)
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def draw_variation(rng: np.random.Generator) -> SensorVariation:
    """One random sensor from the ranges above."""
    lo, hi = STRENGTH_SPREAD
    angle = rng.uniform(0, 2 * np.pi)
    amplitude = rng.uniform(0, GRADIENT_RANGE)
    return SensorVariation(
        strength=float(NOMINAL_STRENGTH * np.exp(rng.uniform(np.log(lo), np.log(hi)))),
        led_gain=tuple(float(g) for g in rng.uniform(*LED_GAIN_RANGE, 3)),  # type: ignore[arg-type]
        camera_gain=float(rng.uniform(*CAMERA_GAIN_RANGE)),
        blur_px=float(rng.uniform(*BLUR_RANGE_PX)),
        gradient=(float(amplitude * np.cos(angle)), float(amplitude * np.sin(angle))),
        extra_noise=float(rng.uniform(*EXTRA_NOISE_RANGE)),
        dome_radius_m=float(np.exp(rng.uniform(*np.log(DOME_RADIUS_RANGE_M)))),
    )
