"""Training speed through the real `distill` code path: render a small synthetic set, run
``learning.distill.distill`` on it for a few epochs and read the trainer's own per-epoch
timing (``epoch_seconds``, ``samples_per_second`` in the run's metrics.jsonl).

Shared by bench_training.py (the bundled recipe's student, teacher cache effect) and
bench_inference.py (the ViT-tiny/small/base 224² students it did not train).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from tactile_material_ros.learning.distill import DistillConfig, distill
from tactile_material_ros.learning.students import StudentConfig
from tactile_material_ros.learning.synth import SynthConfig, synthesize
from tactile_material_ros.learning.teachers import HuggingFaceTeacher
from tactile_material_ros.learning.trainer import TrainConfig

log = logging.getLogger(__name__)

# the bundled model's recipe (docs/training.md): 8550 synthetic presses, 10% held out, 8 epochs
RECIPE_FRAMES = 8550
RECIPE_EPOCHS = 8
RECIPE_VAL_FRACTION = 0.1
RECIPE_TRAIN_FRAMES = round(RECIPE_FRAMES * (1 - RECIPE_VAL_FRACTION))


def render_set(out: Path, per_class: int, seed: int) -> dict[str, Any]:
    """Render ``per_class`` presses of every material into ``out`` with `tactile-material synth`'s code."""
    t0 = time.perf_counter()
    synthesize(SynthConfig(per_class=per_class, seed=seed), out)
    return {"path": str(out), "per_class": per_class, "seed": seed, "seconds": round(time.perf_counter() - t0, 2)}


def timed_distill(data: Path, out: Path, student: StudentConfig, epochs: int, batch_size: int,
                  cache_dir: Path, teacher: HuggingFaceTeacher) -> dict[str, Any]:
    """One `distill` run (feature KD, the bundled recipe's method) timed end to end, with its epoch records.

    ``setup_seconds`` = wall time minus the epochs' training loops: preprocessing the images,
    the teacher's caption embeddings (the cache's part), validation and checkpoints.
    """
    train = TrainConfig(epochs=epochs, batch_size=batch_size, lr=1e-3, val_fraction=RECIPE_VAL_FRACTION)
    t0 = time.perf_counter()
    metrics = distill(data, out, student, train, DistillConfig(method="feature", cache_dir=str(cache_dir)),
                      teacher=teacher)
    wall = time.perf_counter() - t0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    epochs_out = [{"epoch": r["epoch"], "seconds": r["epoch_seconds"], "images_per_second": r["samples_per_second"]}
                  for r in records]
    return {"student": asdict(student), "batch_size": batch_size, "epochs": epochs_out,
            "wall_seconds": round(wall, 2), "setup_seconds": round(wall - sum(r["seconds"] for r in epochs_out), 2),
            "steady_images_per_second": epochs_out[-1]["images_per_second"],
            "val_accuracy": metrics.get("val_accuracy")}


def projected_recipe_seconds(images_per_second: float) -> float:
    """Training-loop time of the bundled recipe (8 epochs over its 7695 training frames) at this speed.

    A lower bound: it leaves out preprocessing, validation and checkpoints.
    """
    return RECIPE_EPOCHS * RECIPE_TRAIN_FRAMES / images_per_second


def hours_minutes(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"
