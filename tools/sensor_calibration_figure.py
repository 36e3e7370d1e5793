"""docs/sensor_calibration.jpg: a real DIGIT press beside simulated ones, with their difference images.

    python tools/sensor_calibration_figure.py REAL_SENSOR_DIR docs/sensor_calibration.jpg

Top row: a real press (REAL_SENSOR_DIR/contact_05.png), its |frame − reference| × 3, the nominal
simulated sensor pressing a 6 mm steel sphere at 16 N, its |frame − reference| × 3. Bottom row:
the same press on two randomised simulated sensors (``synth`` seed 0, sensors 0 and 1), each
beside its |frame − reference| × 3.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from tactile_material_ros.learning.synth import SynthConfig, sensor_variation
from tactile_material_ros.sim.contact_model import Sphere
from tactile_material_ros.sim.digit_renderer import DigitRenderer
from tactile_material_ros.sim.sensor_variation import SensorVariation


def _label(image: np.ndarray, text: str) -> np.ndarray:
    out = image.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 18), (32, 32, 32), -1)
    cv2.putText(out, text, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (240, 240, 240), 1, cv2.LINE_AA)
    return out


def _change(frame: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return np.clip(np.abs(frame.astype(np.float32) - reference.astype(np.float32)) * 3, 0, 255).astype(np.uint8)


def _press(variation: SensorVariation, seed: int) -> tuple[np.ndarray, np.ndarray]:
    renderer = DigitRenderer(background_seed=seed, noise_sigma=0.0)
    rng = np.random.default_rng(seed)
    frame = renderer.render("steel", Sphere(0.006), 16.0, rng=rng)
    return (variation.apply(frame, renderer.background(), rng),
            variation.apply(renderer.no_contact(rng), renderer.background(), rng))


def main(argv: list[str]) -> int:
    real_dir, out = Path(argv[0]), Path(argv[1])
    real = cv2.imread(str(real_dir / "contact_05.png"))
    real_bg = cv2.imread(str(real_dir / "background.png"))
    sim, sim_bg = _press(SensorVariation(noise_sigma=2.0), 0)
    top = [_label(real, "real DIGIT press"), _label(_change(real, real_bg), "real |diff| x3"),
           _label(sim, "simulated, nominal"), _label(_change(sim, sim_bg), "simulated |diff| x3")]
    config = SynthConfig(seed=0)
    bottom = []
    for k in range(2):
        variation = sensor_variation(config, k)
        frame, background = _press(variation, k + 1)
        bottom += [_label(frame, f"sensor {k}: strength {variation.strength:.2f}"),
                   _label(_change(frame, background), f"sensor {k} |diff| x3")]
    cv2.imwrite(str(out), np.vstack([np.hstack(top), np.hstack(bottom)]), [cv2.IMWRITE_JPEG_QUALITY, 88])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
