"""The simulated sensors against real DIGIT presses, on measured statistics (no hand-picked bounds).

The real presses (one DIGIT, 31 presses of a small sphere, read in place) give the range of
the mean |frame − reference| (lightly blurred: noise is not contact) a real contact shows; the nominal simulated sensor must press
inside that range, and the randomised sensors must straddle the real median: a model trained
on them has seen contacts both fainter and stronger than the real ones.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tactile_material_ros.learning.synth import SynthConfig, sensor_variation
from tactile_material_ros.sim.contact_model import Sphere
from tactile_material_ros.sim.digit_renderer import DigitRenderer
from tactile_material_ros.sim.sensor_variation import SensorVariation, draw_variation


def _mean_abs_change(frame: np.ndarray, reference: np.ndarray) -> float:
    """Mean |frame − reference| after a σ 2 px blur, so that the camera's noise (σ 1.3–2 grey levels on
    the real sensor, 1.5–6.5 on the simulated ones) does not count as contact."""
    change = frame.astype(np.float32) - reference.astype(np.float32)
    return float(np.abs(cv2.GaussianBlur(change, (0, 0), 2.0)).mean())


def _rendered(variation: SensorVariation, seed: int) -> list[float]:
    renderer = DigitRenderer(background_seed=seed, noise_sigma=0.0)
    background = renderer.background()
    out = []
    for force in (10.0, 24.0):
        for radius in (0.004, 0.008):
            rng = np.random.default_rng(seed)
            frame = variation.apply(renderer.render("steel", Sphere(radius), force, rng=rng), background, rng)
            reference = variation.apply(renderer.no_contact(rng), background, rng)
            out.append(_mean_abs_change(frame, reference))
    return out


@pytest.fixture
def real_change(real_digit_dir: Path) -> np.ndarray:
    sensor = real_digit_dir / "sensor_a"
    background = cv2.imread(str(sensor / "background.png"))
    return np.array([_mean_abs_change(cv2.imread(str(p)), background) for p in sorted(sensor.glob("contact_*.png"))])


def test_the_nominal_simulated_sensor_presses_like_the_real_one(real_change: np.ndarray) -> None:
    rendered = np.array([v for seed in range(4) for v in _rendered(SensorVariation(noise_sigma=2.0), seed)])
    assert real_change.min() <= np.median(rendered) <= real_change.max(), (np.median(rendered), real_change)
    # and the unvaried renderer alone does not: that is what the calibration corrects
    raw = np.array([v for seed in range(4) for v in _rendered(SensorVariation(strength=1.0, noise_sigma=2.0), seed)])
    assert np.median(raw) > real_change.max()


def test_randomised_sensors_straddle_the_real_presses(real_change: np.ndarray) -> None:
    config = SynthConfig(seed=3)
    medians = [np.median(_rendered(sensor_variation(config, k), k)) for k in range(10)]
    assert min(medians) < np.median(real_change) < max(medians), (medians, np.median(real_change))


def test_variations_are_drawn_from_the_seed_and_stay_in_their_ranges() -> None:
    a = [draw_variation(np.random.default_rng([1, k])) for k in range(50)]
    b = [draw_variation(np.random.default_rng([1, k])) for k in range(50)]
    assert a == b
    assert len({v.strength for v in a}) == 50
    assert all(0.8 <= g <= 1.2 for v in a for g in v.led_gain) and all(0 <= v.blur_px <= 1.2 for v in a)
    with pytest.raises(ValueError, match="strength"):
        SensorVariation(strength=10.0)
