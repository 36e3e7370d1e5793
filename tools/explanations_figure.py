"""Make docs/explanations.png: the bundled model's Grad-CAM / DFF figure (the paper's Fig. 3
layout) for each of the four demo materials, pressed as in the demo: a 30 mm-radius ball at
24 N, tool at 0 deg, on a simulated sensor the model was not trained on.

Usage: .venv/bin/python tools/explanations_figure.py docs/explanations.png

Prints each figure's numbers (prediction, DFF relative error, concept classes) as JSON lines.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from tactile_material_ros.learning.explain_figure import Explainer, save_explanation
from tactile_material_ros.sim.contact_model import Sphere
from tactile_material_ros.sim.digit_renderer import DigitRenderer

DEMO_MATERIALS = ("rubber", "plastic", "wood", "silicone")
UNSEEN_SENSOR_SEED = 990_001   # synth's sensor seeds are seed * 10007 + k: far from every data set's


def main(out: str) -> int:
    explainer = Explainer.from_checkpoint()
    renderer = DigitRenderer(background_seed=UNSEEN_SENSOR_SEED, noise_sigma=3.0)
    rng = np.random.default_rng(0)
    reference = renderer.no_contact(rng)
    pictures = []
    with tempfile.TemporaryDirectory() as tmp:
        for material in DEMO_MATERIALS:
            frame = renderer.render(material, Sphere(0.03), 24.0, tool_angle_rad=0.0, rng=rng)
            explanation = explainer.explain(frame, reference)
            path = save_explanation(explanation, f"{material} ball, r 30 mm, 24 N (true: {material})",
                                    Path(tmp) / f"{material}.png")
            print(json.dumps({"material": material, **explanation.summary()}))
            pictures.append(cv2.imread(str(path), cv2.IMREAD_COLOR))
    width = max(p.shape[1] for p in pictures)
    padded = [cv2.copyMakeBorder(p, 0, 0, 0, width - p.shape[1], cv2.BORDER_CONSTANT, value=(255, 255, 255))
              for p in pictures]
    cv2.imwrite(out, np.vstack(padded))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/explanations.png"))
