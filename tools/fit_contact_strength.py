"""Fit the simulated DIGIT's nominal contact strength to real presses of a small sphere.

    python tools/fit_contact_strength.py REAL_SENSOR_DIR

REAL_SENSOR_DIR holds one real DIGIT's ``background.png`` and its presses ``contact_NN.png``
(read in place). The statistic is the mean |frame − reference| over the whole frame, in grey
levels; the renderer is measured on the same statistic for steel spheres of 4 and 8 mm radius
at 10 and 24 N on six simulated sensors (no sensor variation). The ratio of the medians is the
nominal strength of ``sim/sensor_variation.py``; the spread of the real presses around their
median bounds the range drawn around it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from tactile_material_ros.sim.contact_model import Sphere
from tactile_material_ros.sim.digit_renderer import DigitRenderer


def mean_abs_change(frame: np.ndarray, reference: np.ndarray) -> float:
    return float(np.abs(frame.astype(np.float32) - reference.astype(np.float32)).mean())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("real", type=Path)
    args = parser.parse_args(argv)
    background = cv2.imread(str(args.real / "background.png"))
    real = [mean_abs_change(cv2.imread(str(p)), background) for p in sorted(args.real.glob("contact_*.png"))]
    simulated = []
    for seed in range(6):
        renderer = DigitRenderer(background_seed=seed, noise_sigma=2.0)
        reference = renderer.background()
        for force in (10.0, 24.0):
            for radius in (0.004, 0.008):
                frame = renderer.render("steel", Sphere(radius), force, rng=np.random.default_rng(seed))
                simulated.append(mean_abs_change(frame, reference))
    r, s = np.median(real), np.median(simulated)
    sys.stdout.write(f"real presses ({len(real)}): {min(real):.1f}-{max(real):.1f} grey levels, median {r:.2f}\n"
                     f"rendered ({len(simulated)}): {min(simulated):.1f}-{max(simulated):.1f}, median {s:.2f}\n"
                     f"nominal strength = {r / s:.3f}; real spread around its median: "
                     f"{min(real) / r:.2f}-{max(real) / r:.2f}x\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
