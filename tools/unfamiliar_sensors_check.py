"""Held-out sensors of our own: the unseen-seed test presses re-rendered as sensors the model never saw.

    python tools/unfamiliar_sensors_check.py TEST_SET [--model models/tactile_vit.onnx] [--per-class 10]

For each setting below, the first ``--per-class`` presses of each material of a synthetic test
set (``tactile-material synth``, its ``synth.json`` says how each was pressed) are rendered
again with the same sensor and press, but the sensor changed beyond anything the training
sensors drew (``sim/sensor_variation.py``), and classified through ``evaluate``. Each row's class
is the setting's name, which the model does not have: right is ``unknown`` (or ``no_contact``),
wrong is a material. Prints, per setting, the share of presses given a material.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from tactile_material_ros.learning.evaluation import evaluate
from tactile_material_ros.learning.synth import (
    SynthConfig,
    _noiseless_renderer,
    plan_presses,
    sensor_params,
    sensor_variation,
)
from tactile_material_ros.paths import model_file
from tactile_material_ros.sim.sensor_variation import SensorVariation

SETTINGS = {
    "broken_red_led": lambda v: replace(v, led_gain=(v.led_gain[0], v.led_gain[1], 0.05)),
    "faint_gel_x0.15": lambda v: replace(v, strength=0.15 * v.strength),
    "blurred_camera_4px": lambda v: replace(v, blur_px=4.0),
    "noisy_camera_12": lambda v: replace(v, extra_noise=12.0),
    "swapped_leds_rgb": lambda v: replace(v, led_gain=(v.led_gain[2], v.led_gain[0], v.led_gain[1])),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("test_set", type=Path)
    parser.add_argument("--model", default=str(model_file()))
    parser.add_argument("--per-class", type=int, default=10)
    args = parser.parse_args(argv)
    meta = json.loads((args.test_set / "synth.json").read_text())
    raw = meta["config"]
    config = SynthConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in raw.items()})
    presses = plan_presses(config)
    chosen = [p for m in dict.fromkeys(p.material for p in presses)
              for p in [q for q in presses if q.material == m][: args.per_class]]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = []
        for name, change in SETTINGS.items():
            (root / name).mkdir()
            for p in chosen:
                variation: SensorVariation = change(sensor_variation(config, p.sensor))
                renderer = _noiseless_renderer(sensor_params(config, p.sensor)[0], variation)
                rng = np.random.default_rng(p.render_seed)
                frame = renderer.render(p.material, p.shape, p.force_n, tool_angle_rad=p.tool_angle_rad,
                                        offset_m=p.offset_m, rng=rng)
                frame = variation.apply(frame, renderer.background(), rng)
                ref_rng = np.random.default_rng([config.seed, 7, p.sensor])
                reference = variation.apply(renderer.no_contact(ref_rng), renderer.background(), ref_rng)
                cv2.imwrite(str(root / name / f"{p.sample_id}.png"), frame)
                cv2.imwrite(str(root / name / f"{p.sample_id}_bg.png"), reference)
                rows.append([f"{name}/{p.sample_id}", name, f"{name}/{p.sample_id}.png", "", "", name,
                             f"{name}/{p.sample_id}_bg.png"])
        with open(root / "held_out.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["sample_id", "dataset", "tactile", "vision", "caption", "class", "background"])
            writer.writerows(rows)
        report = evaluate(args.model, root / "held_out.csv", root / "eval")
    for name, row in report["per_class"].items():
        results[name] = {"presses": row["support"], "given_a_material": round(row["wrong_labelled_rate"], 3),
                         "labels": row["labels"]}
    sys.stdout.write(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
