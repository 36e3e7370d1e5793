"""Make docs/sensor.png: what the simulated DIGIT shows, one effect per frame (simulated frames only).

Usage: .venv/bin/python tools/sensor_figure.py docs/sensor.png

Row 1: three simulated sensors' no-contact frames, then one hard ball (8 mm, wood) at 3, 10
and 24 N. Row 2: a soft and a hard ball at the same force (10 mm, 5 N), a cable lying under the
gel, a flat towel, and a wood ball before and after a 90 deg tool turn.
"""

from __future__ import annotations

import math
import sys

import cv2
import numpy as np

from tactile_material_ros.sim.contact_model import Cylinder, Flat, Sphere
from tactile_material_ros.sim.digit_renderer import DigitRenderer


def _labelled(frame: np.ndarray, text: str) -> np.ndarray:
    out = frame.copy()
    for thickness, colour in ((3, (0, 0, 0)), (1, (255, 255, 255))):
        cv2.putText(out, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, thickness, cv2.LINE_AA)
    return out


def main(out: str) -> int:
    rng = np.random.default_rng(0)
    sensor = DigitRenderer(background_seed=0)
    first = [_labelled(DigitRenderer(background_seed=s).no_contact(rng), f"sensor {s}, no contact") for s in range(3)]
    first += [_labelled(sensor.render("wood", Sphere(0.008), f, patch_m=(0, 0), rng=rng), f"wood ball 8 mm, {f:g} N")
              for f in (3.0, 10.0, 24.0)]
    second = [
        _labelled(sensor.render("silicone", Sphere(0.01), 5.0, rng=rng), "silicone 10 mm, 5 N"),
        _labelled(sensor.render("plastic", Sphere(0.01), 5.0, rng=rng), "plastic 10 mm, 5 N"),
        _labelled(sensor.render("cable", Cylinder(0.004, 0.05), 15.0, 0.4, rng=rng), "cable, 15 N"),
        _labelled(sensor.render("towel", Flat(), 24.0, rng=rng), "towel, flat, 24 N"),
        _labelled(sensor.render("wood", Sphere(0.035), 24.0, 0.0, patch_m=(0, 0), rng=rng), "wood 35 mm, 0 deg"),
        _labelled(sensor.render("wood", Sphere(0.035), 24.0, math.pi / 2, patch_m=(0, 0), rng=rng), "wood, 90 deg"),
    ]
    figure = np.vstack([np.hstack(first), np.hstack(second)])
    figure = cv2.resize(figure, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    return 0 if cv2.imwrite(out, figure, [cv2.IMWRITE_PNG_COMPRESSION, 9]) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/sensor.png"))
