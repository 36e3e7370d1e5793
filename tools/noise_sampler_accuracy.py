"""Does the simulated DIGIT's noise sampler change what the bundled model sees?

Usage: .venv/bin/python tools/noise_sampler_accuracy.py DATA [--draws N] [--expect-numpy] [--json OUT]

DATA is a test set written by ``tactile-material synth`` (e.g. ``runs/b224/data/test``, made
with ``--per-class 100 --seed 1``; the seed and count are read from its synth.json). Every
press of it is rendered again, ``2 x N`` times, and classified by the bundled model against
the set's own no-contact frames:

- NumPy's ``standard_normal`` from the press's own generator: the frames the set holds if it
  was rendered with that sampler (checked pixel for pixel when ``--expect-numpy`` is given);
- the renderer's quantile-table sampler (sim/sensor_noise.py), from the press's generator;
- each sampler again with N - 1 other noise draws (a second generator per press and draw).

Each press keeps its shape, force, angle, offset, texture patch and sensor; only the noise
changes. The spread between the two NumPy draws is what noise realisation alone does to the
top-1; the sampler is a shift only if it moves the accuracy further than that.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from tactile_material_ros.inference.onnx_classifier import OnnxClassifier
from tactile_material_ros.learning.synth import SynthConfig, plan_presses, sensor_params
from tactile_material_ros.paths import model_file
from tactile_material_ros.sim.digit_renderer import DigitRenderer, NoiseSampler
from tactile_material_ros.sim.sensor_noise import standard_normal


def numpy_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(shape, dtype=np.float32)


def another_draw(sampler: NoiseSampler, k: int) -> NoiseSampler:
    """The same sampler fed from a second generator, seeded from the press's own one and ``k``."""
    def draw(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
        return sampler(np.random.default_rng([int(rng.integers(2**31)), 98 + k]), shape)
    return draw


def variants(draws: int) -> dict[str, NoiseSampler]:
    out: dict[str, NoiseSampler] = {}
    for name, sampler in (("numpy standard_normal", numpy_normal), ("quantile table", standard_normal)):
        out[f"{name}, draw 1"] = sampler
        out.update({f"{name}, draw {k}": another_draw(sampler, k) for k in range(2, draws + 1)})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--draws", type=int, default=2, help="noise draws per sampler")
    parser.add_argument("--json", type=Path, help="write the accuracies here")
    parser.add_argument("--expect-numpy", action="store_true",
                        help="check that the first variant reproduces the set's frames pixel for pixel")
    args = parser.parse_args()
    meta = json.loads((args.data / "synth.json").read_text())["config"]
    config = SynthConfig(per_class=meta["per_class"], seed=meta["seed"], materials=tuple(meta["materials"]),
                         sensors=meta["sensors"])
    presses = plan_presses(config)
    model = OnnxClassifier(str(model_file()), threads=2)
    names = list(model.class_names)
    references = {k: cv2.imread(str(args.data / "background" / f"sensor_{k:03d}.png")) for k in {p.sensor for p in presses}}
    accuracy = {}
    for variant, sampler in variants(args.draws).items():
        renderers: dict[int, DigitRenderer] = {}
        correct = 0
        for p in tqdm(presses, desc=variant, unit="img"):
            if p.sensor not in renderers:
                seed, sigma = sensor_params(config, p.sensor)
                renderers[p.sensor] = DigitRenderer(background_seed=seed, noise_sigma=sigma, noise_sampler=sampler)
            frame = renderers[p.sensor].render(p.material, p.shape, p.force_n, tool_angle_rad=p.tool_angle_rad,
                                               offset_m=p.offset_m, rng=np.random.default_rng(p.render_seed))
            if args.expect_numpy and sampler is numpy_normal:
                stored = cv2.imread(str(args.data / "tactile" / p.material / f"{p.sample_id}.png"))
                if not np.array_equal(frame, stored):
                    raise SystemExit(f"{p.sample_id}: not the stored frame; was {args.data} rendered with NumPy's sampler?")
            probabilities = model.predict_proba([frame], references[p.sensor])[0]
            correct += names[int(np.argmax(probabilities))] == p.material
        accuracy[variant] = correct / len(presses)
        print(f"{variant:40s} top-1 {100 * accuracy[variant]:.2f}% ({correct}/{len(presses)})", flush=True)
    for name in ("numpy standard_normal", "quantile table"):
        values = [v for k, v in accuracy.items() if k.startswith(name)]
        print(f"{name:40s} mean top-1 {100 * np.mean(values):.2f}%, range {100 * min(values):.2f}-{100 * max(values):.2f}%")
    if args.json:
        args.json.write_text(json.dumps({"data": str(args.data), "draws": args.draws, "top1": accuracy}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
