"""How a DIGIT's gel is lit: three coloured LEDs, the no-contact image they make, and shading.

A DIGIT lights its gel from the side with a red, a green and a blue LED; seen through the
gel by the camera, a flat, untouched gel shows the LEDs' overlapping colour lobes (the
"background"), and a dent tilts the gel surface towards one LED and away from the others,
so its rim lights up in different colours on different sides (photometric stereo, as in
TACTO's three point lights 120 degrees apart).

Lighting layout, in image axes (x right, y down, z towards the camera), from the 31 real
sphere presses of a real DIGIT (sensor_a): the blue response of a dent is
strongest on its lower side (+81 deg), green on its upper left (-153 deg) and red on its
upper right (-37 deg) (circular means over 21 presses, spread 7-13 deg). Each simulated sensor (``seed``) jitters the LED places, the shape
of their lobes on the gel, their strength and the camera's colour balance, so no two
sensors have the same background, as with real DIGITs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

# LED azimuths in image axes (deg, y down), channel order B, G, R as in the frames.
LED_AZIMUTH_DEG = (82.0, -153.0, -40.0)
# Real background statistics (real DIGIT frames and the survey of four DIGITs): channel
# means over the frame of 99-104 (B), 105-112 (G), 99-106 (R); standard deviations of about
# 21-23 (B), 18-26 (G) and 35-58 (R) in the files at hand, 18-45 over the four sensors. Each
# simulated sensor draws its targets from these ranges.
BACKGROUND_MEAN_RANGE = ((99.0, 104.0), (105.0, 112.0), (99.0, 106.0))
BACKGROUND_STD_RANGE = ((19.0, 27.0), (18.0, 27.0), (30.0, 45.0))
# Grey levels per unit change of n.l at full LED strength; with the lights' ~30 deg elevation
# a gel slope of 0.18 (the rim of a 24 N press of a hard 35 mm ball) changes a channel by
# about 80 levels, inside the rim colours of the real sphere presses (99th percentile of the
# change 43-139 grey levels), and a texture slope of 0.05 by about 25, well above the noise.
SHADING_GAIN = 700.0
# Soft saturation of the shading response [grey levels]: steep slopes cannot push a channel
# further than this from its background (the LEDs' light is finite; the sensor clips).
SHADING_LIMIT = 100.0


@dataclass(frozen=True)
class GelLighting:
    """One sensor's lighting on an H x W frame."""

    background: np.ndarray   # float32 (H, W, 3) BGR, the flat gel's image without noise
    light_dirs: np.ndarray   # float32 (3, 3, H, W): per LED (B, G, R), unit vector (x, y, z) gel -> LED
    gain: np.ndarray         # float32 (H, W, 3): grey levels per unit change of n.l, per LED
    mix: np.ndarray          # float32 (3, 3): camera channel (row) response to each LED (column), rows sum to 1

    def shade(self, grad_x: np.ndarray, grad_y: np.ndarray) -> np.ndarray:
        """Colour change (float32 H x W x 3, BGR) made by a gel surface with slopes dh/dx, dh/dy.

        h is the gel surface's displacement towards the camera; its normal is
        (-dh/dx, -dh/dy, 1) / norm. Each LED's light on the camera changes by gain * (n.l - l_z);
        each channel sees the LEDs through ``mix``; the result is softly limited.
        """
        inv_norm = 1.0 / np.sqrt(1.0 + grad_x * grad_x + grad_y * grad_y)
        per_led = np.empty(grad_x.shape + (3,), np.float32)
        for led in range(3):
            lx, ly, lz = self.light_dirs[led]
            per_led[..., led] = (lz - grad_x * lx - grad_y * ly) * inv_norm - lz
        per_led *= self.gain
        out = per_led @ self.mix.T
        return SHADING_LIMIT * np.tanh(out * (1.0 / SHADING_LIMIT))


def _smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Low-frequency noise with about ``cells`` features across the shorter side, std 1."""
    small = rng.standard_normal((max(2, cells * height // width + 1), cells + 1)).astype(np.float32)
    field = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    field = cv2.GaussianBlur(field, (0, 0), width / (cells * 2.0))
    return (field - field.mean()) / (field.std() + 1e-9)


def _streaks(rng: np.random.Generator, angle: np.ndarray) -> np.ndarray:
    """Rays fanning out from an LED (the light guide's streaks): a random periodic function of the ray angle, std ~1."""
    k = np.arange(4, 30, dtype=np.float32)
    amp = rng.standard_normal(k.size).astype(np.float32) / k
    phase = rng.uniform(0.0, 2.0 * math.pi, k.size).astype(np.float32)
    out = np.zeros_like(angle)
    for kk, a, p in zip(k, amp, phase, strict=True):
        out += a * np.cos(kk * angle + p)
    return out / (math.sqrt(float((amp**2).sum()) / 2.0) + 1e-9)


def make_lighting(height: int, width: int, pitch_m: float, seed: int) -> GelLighting:
    """The lighting of simulated sensor ``seed`` on a ``height`` x ``width`` frame of ``pitch_m`` per pixel."""
    rng = np.random.default_rng([seed, 0x6D17])
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    x = (x - (width - 1) / 2.0) * pitch_m
    y = (y - (height - 1) / 2.0) * pitch_m
    half_diag = 0.5 * pitch_m * math.hypot(width, height)

    dirs = np.empty((3, 3, height, width), np.float32)
    irradiance = np.empty((height, width, 3), np.float32)
    for c, azimuth in enumerate(LED_AZIMUTH_DEG):
        az = math.radians(azimuth + rng.uniform(-12.0, 12.0))
        dist = half_diag * rng.uniform(0.9, 1.3)
        led = np.array([dist * math.cos(az), dist * math.sin(az), dist * math.tan(math.radians(rng.uniform(25, 35)))],
                       np.float32)
        vx, vy, vz = led[0] - x, led[1] - y, np.full_like(x, led[2])
        r = np.sqrt(vx * vx + vy * vy + vz * vz)
        dirs[c] = np.stack([vx / r, vy / r, vz / r])
        # the LED's light on the gel: inverse square with the incidence cosine, spread by the
        # light guide into a lobe that reaches towards the far side, with blotches of its own
        falloff = (vz / r) / (r / half_diag)
        lobe_centre = led[:2] * rng.uniform(0.25, 0.6)
        lobe_width = half_diag * rng.uniform(0.35, 0.6)
        lobe = np.exp(-((x - lobe_centre[0]) ** 2 + (y - lobe_centre[1]) ** 2) / (2 * lobe_width**2))
        light = falloff / falloff.mean() + rng.uniform(0.6, 1.4) * lobe / lobe.mean()
        light *= 1.0 + 0.18 * _smooth_noise(rng, height, width, int(rng.integers(3, 6)))
        light *= 1.0 + 0.08 * _streaks(rng, np.arctan2(-vy, -vx))
        irradiance[..., c] = np.clip(light, 0.0, None)
    # shared by all channels: vignetting of the lens and the gel's uneven thickness
    common = (1.0 - rng.uniform(0.15, 0.3) * (x * x + y * y) / half_diag**2) * (
        1.0 + 0.12 * _smooth_noise(rng, height, width, int(rng.integers(2, 5))))
    irradiance *= common[..., None]

    # what each camera channel sees of the flat gel: mostly its own LED, plus light the light guide
    # scatters between the red and the blue LED's lobes (real backgrounds: B-R correlation 0.5-0.6,
    # magenta lobes; green nearly independent). Scattered light is diffuse: it brightens the gel
    # but hardly shades a dent, so the shading below sees only each LED's direct light through
    # the camera's small colour cross-talk (real presses: each channel's rim within ~10 deg of
    # its LED's side).
    scatter = np.eye(3, dtype=np.float32) * 0.8 + rng.uniform(0.02, 0.1, (3, 3)).astype(np.float32)
    scatter[0, 2] = rng.uniform(0.35, 0.6)  # blue channel <- red LED
    scatter[2, 0] = rng.uniform(0.25, 0.5)  # red channel <- blue LED
    seen = irradiance @ scatter.T
    crosstalk = np.eye(3, dtype=np.float32) + rng.uniform(0.03, 0.1, (3, 3)).astype(np.float32) * (1 - np.eye(3))
    background = np.empty_like(seen)
    for c in range(3):
        mean = rng.uniform(*BACKGROUND_MEAN_RANGE[c])
        std = rng.uniform(*BACKGROUND_STD_RANGE[c])
        ch = seen[..., c]
        background[..., c] = mean + (ch - ch.mean()) * (std / (ch.std() + 1e-9))
    background = _add_specks(rng, background)
    gain = SHADING_GAIN * np.clip(0.55 + 0.45 * irradiance / irradiance.mean(axis=(0, 1)), 0.5, 1.6)
    mix_rows = (crosstalk / crosstalk.sum(axis=1, keepdims=True)).astype(np.float32)
    return GelLighting(np.clip(background, 0.0, 255.0).astype(np.float32), dirs, gain.astype(np.float32), mix_rows)


def _add_specks(rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    """A few dark dust specks / coating flaws, as every real gel has."""
    height, width = background.shape[:2]
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    scale = width / 240.0
    shade = np.ones((height, width), np.float32)
    for _ in range(int(rng.integers(1, 4))):
        cx, cy = rng.uniform(0.1, 0.9) * width, rng.uniform(0.1, 0.9) * height
        radius = rng.uniform(1.5, 3.5) * scale
        shade -= rng.uniform(0.2, 0.45) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * radius**2))
    return background * shade[..., None]
