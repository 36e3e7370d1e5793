"""The simulated DIGIT against real DIGIT frames (the folder conftest.REAL_DIGIT, read in place; skipped where absent).

Real material: two no-contact frames of two sensors (``background_tacto.jpg``,
``sensor_a/background.png``), 31 sphere presses on sensor_a with that sensor's own
background, and 7 sphere presses of another sensor (``contact_sphere_*.png``, no background).
The lead's survey of four sensors gives channel means of 99-106 (R), 105-112 (G), 99-104 (B)
and channel standard deviations of 18-45 over the frame.

Bounds, and why they are what they are:
- no-contact colour: each simulated sensor draws its targets inside the four real sensors'
  ranges, so means must fall in them widened by 3 grey levels (rounding and the dust specks
  the sim adds after normalising) and stds in [15, 48] (18-45 widened the same way);
- no-contact structure: the real backgrounds' blue and red channels are positively correlated
  (0.51-0.58: the LEDs' magenta lobes); a flat grey or independent channels would not be;
  per-pixel noise (high-pass residual) must be within a factor 2 of the real frames' (which
  is measured here), since a classifier trained on the sim sees this noise;
- a sphere press: chosen to match sensor_a's imprints in size (8 mm ball, 10 N: contact
  radius ~4 mm), it must show the real rim colour layout — the blue change strongest below
  the centre, green upper left, red upper right, each within 30 deg of the mean real
  direction measured here (the real presses spread 7-13 deg around it; the sim's sensors
  jitter their LEDs by up to 12 deg and the press is off-centre); an imprint
  radius within the real range measured here (45-70 px) widened by 15 px; a 99th-percentile
  colour change inside the imprint within the real range measured here (43-139 grey levels)
  widened by 10; and whole-frame channel means and stds within the range of all 38 real press frames
  widened by 8 (means) and 15 (stds: the sim's rim saturates more evenly than real gels).
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from tactile_material_ros.sim.contact_model import Sphere
from tactile_material_ros.sim.digit_renderer import DigitRenderer

REAL_MEAN_RANGE_BGR = ((99.0, 104.0), (105.0, 112.0), (99.0, 106.0))
REAL_STD_RANGE = (18.0, 45.0)
SEEDS = range(6)
CHANGED = 25.0  # grey levels: a pixel belongs to an imprint when a channel moved this much


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None and image.shape == (320, 240, 3), path
    return image


def _noise_level(frame: np.ndarray) -> float:
    """Per-pixel noise: the std of the frame minus its 2-px Gaussian blur, averaged over channels."""
    f = frame.astype(np.float32)
    return float((f - cv2.GaussianBlur(f, (0, 0), 2.0)).std(axis=(0, 1)).mean())


def _blue_red_correlation(frame: np.ndarray) -> float:
    flat = frame.reshape(-1, 3).astype(np.float64)
    return float(np.corrcoef(flat[:, 0], flat[:, 2])[0, 1])


def _imprint(diff: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Mask of the imprint, its centre (row, col)."""
    mask = np.abs(diff).max(axis=2) > CHANGED
    mask = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8)).astype(bool)
    rows, cols = np.nonzero(mask)
    return mask, float(rows.mean()), float(cols.mean())


def _lit_directions_deg(diff: np.ndarray) -> list[float]:
    """Per channel, the direction (deg, image axes, y down) from the imprint's centre to where it brightened."""
    mask, cy, cx = _imprint(diff)
    rows, cols = np.mgrid[0:diff.shape[0], 0:diff.shape[1]]
    out = []
    for c in range(3):
        w = np.clip(diff[..., c], 0, None) * mask
        out.append(math.degrees(math.atan2(float((w * (rows - cy)).sum()), float((w * (cols - cx)).sum()))))
    return out


def _angle_between_deg(a: float, b: float) -> float:
    return abs((a - b + 180.0) % 360.0 - 180.0)


def _circular_mean_deg(angles: list[float]) -> float:
    return math.degrees(math.atan2(sum(math.sin(math.radians(a)) for a in angles),
                                   sum(math.cos(math.radians(a)) for a in angles)))


@pytest.fixture(scope="module")
def renderers() -> list[DigitRenderer]:
    return [DigitRenderer(background_seed=s) for s in SEEDS]


def test_no_contact_colour_statistics_match_real_backgrounds(real_digit_dir: Path,
                                                            renderers: list[DigitRenderer]) -> None:
    real = [_read(real_digit_dir / "background_tacto.jpg"), _read(real_digit_dir / "sensor_a" / "background.png")]
    real_noise = [_noise_level(f) for f in real]
    for frame in real:  # the figures the bounds rest on hold for the files here
        assert all(lo - 1 <= m <= hi + 1 for m, (lo, hi) in zip(frame.reshape(-1, 3).mean(0), REAL_MEAN_RANGE_BGR,
                                                                   strict=True))
        assert _blue_red_correlation(frame) > 0.4
    for renderer in renderers:
        frame = renderer.no_contact(np.random.default_rng(0))
        means, stds = frame.reshape(-1, 3).mean(0), frame.reshape(-1, 3).std(0)
        for c, (lo, hi) in enumerate(REAL_MEAN_RANGE_BGR):
            assert lo - 3 <= means[c] <= hi + 3, (renderer.background_seed, "mean", c, means)
            assert REAL_STD_RANGE[0] - 3 <= stds[c] <= REAL_STD_RANGE[1] + 3, (renderer.background_seed, "std", c, stds)
        assert _blue_red_correlation(frame) > 0.25, renderer.background_seed
        assert min(real_noise) / 2 <= _noise_level(frame) <= 2 * max(real_noise), (_noise_level(frame), real_noise)


def test_a_sphere_press_matches_real_sphere_presses(real_digit_dir: Path, renderers: list[DigitRenderer]) -> None:
    background = _read(real_digit_dir / "sensor_a" / "background.png").astype(np.float32)
    real_dirs: list[list[float]] = [[], [], []]
    real_radius, real_p99 = [], []
    for path in sorted((real_digit_dir / "sensor_a").glob("contact_*.png")):
        diff = _read(path).astype(np.float32) - background
        mask, cy, _ = _imprint(diff)
        if mask.sum() < 2000 or cy > 180:  # light touches, and presses near the blue LED's edge, are not comparable
            continue
        for c, angle in enumerate(_lit_directions_deg(diff)):
            real_dirs[c].append(angle)
        real_radius.append(math.sqrt(mask.sum() / math.pi))
        real_p99.append([float(np.percentile(diff[..., c][mask], 99)) for c in range(3)])
    assert len(real_radius) >= 15
    real_frames = [_read(p) for p in sorted(real_digit_dir.glob("contact_sphere_*.png"))]
    real_frames += [_read(p) for p in sorted((real_digit_dir / "sensor_a").glob("contact_*.png"))]
    frame_means = np.array([f.reshape(-1, 3).mean(0) for f in real_frames])
    frame_stds = np.array([f.reshape(-1, 3).std(0) for f in real_frames])
    mean_dirs = [_circular_mean_deg(d) for d in real_dirs]
    p99_lo, p99_hi = np.min(real_p99) - 10, np.max(real_p99) + 10

    for renderer in renderers:
        frame = renderer.render("plastic", Sphere(0.008), 10.0, offset_m=(-0.001, -0.002),
                                rng=np.random.default_rng(renderer.background_seed))
        diff = frame.astype(np.float32) - renderer.background()
        mask, _, _ = _imprint(diff)
        radius = math.sqrt(mask.sum() / math.pi)
        assert min(real_radius) - 15 <= radius <= max(real_radius) + 15, (radius, min(real_radius), max(real_radius))
        for c, angle in enumerate(_lit_directions_deg(diff)):
            assert _angle_between_deg(angle, mean_dirs[c]) < 30, (renderer.background_seed, c, angle, mean_dirs[c])
        for c in range(3):
            p99 = float(np.percentile(diff[..., c][mask], 99))
            assert p99_lo <= p99 <= p99_hi, (renderer.background_seed, c, p99, p99_lo, p99_hi)
        means, stds = frame.reshape(-1, 3).mean(0), frame.reshape(-1, 3).std(0)
        assert np.all(means >= frame_means.min(0) - 8) and np.all(means <= frame_means.max(0) + 8), means
        assert np.all(stds >= frame_stds.min(0) - 15) and np.all(stds <= frame_stds.max(0) + 15), stds
