"""Training speed of `distill` on this machine, and what the teacher's embedding cache saves.

    .venv/bin/python bench/bench_training.py [--per-class 30] [--epochs 3] [--batch-size 64]

The student is the bundled model's (its card's architecture). A small synthetic set is
rendered with `tactile-material synth`'s code, then:

1. the teacher alone: embedding every caption of the set with a cold cache (the teacher
   runs) and again with a warm one (a cache hit for every caption);
2. `distill` twice on the same data through the real code path (learning.distill): first with
   an empty cache directory, then with the cache the first run filled. The trainer records
   each epoch's seconds and images per second (metrics.jsonl); ``setup`` is the rest of the
   wall time (reading and preprocessing the images, the teacher's embeddings, validation).

The teacher is frozen, so this package embeds each caption once, before the first epoch,
and never again: epochs 2..n cost the same as epoch 1's training loop, and a second run on
the same captions skips the teacher entirely. Had the teacher run on every batch, each epoch
would add the cold embedding time (scaled to the epoch's captions).

Writes bench/results/training.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

from distill_speed import RECIPE_VAL_FRACTION, hours_minutes, projected_recipe_seconds, render_set, timed_distill
from measurement import command_line, machine, markdown_table, write_results

from tactile_material_ros.inference.model_card import card_path_for
from tactile_material_ros.learning.embedding_cache import EmbeddingCache
from tactile_material_ros.learning.students import StudentConfig
from tactile_material_ros.learning.teachers import load_teacher
from tactile_material_ros.paths import model_file

log = logging.getLogger("bench_training")


def bundled_student() -> StudentConfig:
    arch = json.loads(card_path_for(model_file()).read_text())["architecture"]
    return StudentConfig(size=arch["size"], layers=arch["layers"], image_size=arch["image_size"],
                         patch_size=arch["patch_size"])


def teacher_timing(captions: list[str], cache_dir: Path, teacher) -> dict[str, float]:
    cache = EmbeddingCache(cache_dir, teacher)
    t0 = time.perf_counter()
    cache.embeddings(captions)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    cache.embeddings(captions)
    warm = time.perf_counter() - t0
    unique = len(set(captions))
    return {"captions": len(captions), "unique_captions": unique, "cold_seconds": round(cold, 3),
            "warm_seconds": round(warm, 4), "teacher_captions_per_second": round(unique / cold, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=30, help="synthetic presses per class")
    parser.add_argument("--epochs", type=int, default=3, help="distill epochs per run")
    parser.add_argument("--batch-size", type=int, default=64, help="the bundled recipe's batch")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    student = bundled_student()
    with tempfile.TemporaryDirectory(prefix="bench_training_") as tmp:
        work = Path(tmp)
        data = work / "synth"
        rendered = render_set(data, args.per_class, seed=11)
        with open(data / "tvl.csv", newline="") as f:
            captions = [row["caption"] for row in csv.DictReader(f)]
        teacher = load_teacher()
        teacher_alone = teacher_timing(captions, work / "teacher_cache", teacher)
        cache = work / "distill_cache"
        runs = {}
        for name in ("cold_cache", "warm_cache"):
            log.info("distill (%s): %d epochs, batch %d, %s", name, args.epochs, args.batch_size, student)
            runs[name] = timed_distill(data, work / f"run_{name}", student, args.epochs, args.batch_size, cache, teacher)
    cold, warm = runs["cold_cache"], runs["warm_cache"]
    steady = warm["steady_images_per_second"]
    # run on every batch, the teacher would embed each training row's caption every epoch
    per_epoch_teacher_s = (1 - RECIPE_VAL_FRACTION) * teacher_alone["captions"] / teacher_alone["teacher_captions_per_second"]
    result = {"command": command_line(), "host": machine(), "student": student.__dict__, "data": rendered,
              "teacher": teacher_alone, "runs": runs,
              "cache_saves_seconds_per_run": round(cold["setup_seconds"] - warm["setup_seconds"], 2),
              "teacher_every_epoch_would_add_seconds_per_epoch": round(per_epoch_teacher_s, 2),
              "projected_recipe_seconds": round(projected_recipe_seconds(steady))}
    path = write_results("training", result)
    rows = []
    for name, run in runs.items():
        for e in run["epochs"]:
            rows.append([name.replace("_", " "), str(e["epoch"]), f"{e['seconds']:.1f}", f"{e['images_per_second']:.1f}",
                         f"{run['setup_seconds']:.1f}" if e["epoch"] == run["epochs"][0]["epoch"] else ""])
    print(markdown_table(["run", "epoch", "epoch [s]", "images/s", "setup (images, teacher, validation) [s]"], rows))
    print(f"teacher alone: {teacher_alone['unique_captions']} unique captions embedded in "
          f"{teacher_alone['cold_seconds']:.2f} s cold ({teacher_alone['teacher_captions_per_second']:.0f}/s), "
          f"{1e3 * teacher_alone['warm_seconds']:.1f} ms from the cache")
    print(f"bundled recipe at {steady:.1f} img/s: training loops ≈ {hours_minutes(result['projected_recipe_seconds'])}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
