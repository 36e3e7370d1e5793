"""Accuracy of a model through `tactile-material classify`, the user-facing command, on a synthetic
test set rendered with a seed the model never saw. Writes bench/results/classify_accuracy.json.

    .venv/bin/tactile-material synth --out DATA --per-class 100 --seed 1
    .venv/bin/python bench/bench_classify_accuracy.py DATA [--model models/tactile_vit.onnx]

Frames are classified per simulated sensor, each group with that sensor's no-contact frame as
``--reference``; the JSON lines are tallied per class (recall = per-class accuracy).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

from measurement import RESULTS_DIR, command_line, machine, write_results

from tactile_material_ros.paths import model_file

RESULTS = RESULTS_DIR / "classify_accuracy.json"
DEMO_MATERIALS = ("rubber", "plastic", "wood", "silicone")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="folder written by `tactile-material synth` (tvl.csv with a background column)")
    parser.add_argument("--model", default=str(model_file()))
    args = parser.parse_args()
    data = Path(args.data)
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    with open(data / "tvl.csv", newline="") as f:
        for row in csv.DictReader(f):
            groups[row["background"]].append((str(data / row["tactile"]), row["class"]))
    exe = Path(sys.executable).parent / "tactile-material"
    correct: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    t0 = time.perf_counter()
    for background, rows in sorted(groups.items()):
        out = subprocess.run([str(exe), "classify", *[p for p, _ in rows], "--model", args.model,
                              "--reference", str(data / background), "--json"],
                             capture_output=True, text=True, check=True).stdout.splitlines()
        if len(out) != len(rows):
            raise RuntimeError(f"classify answered {len(out)} lines for {len(rows)} images ({background})")
        for line, (path, label) in zip(out, rows, strict=True):
            result = json.loads(line)
            if result["image"] != path:
                raise RuntimeError(f"answer for {result['image']} where {path} was expected")
            total[label] += 1
            correct[label] += result["label"] == label
    per_class = {c: correct[c] / total[c] for c in total}
    top1 = sum(correct.values()) / sum(total.values())
    result = {"model": args.model, "data": str(data.resolve()), "frames": sum(total.values()), "top1": top1,
              "per_class": per_class, "demo_materials": {m: per_class.get(m) for m in DEMO_MATERIALS},
              "seconds": round(time.perf_counter() - t0, 1), "command": command_line(), "host": machine()}
    write_results("classify_accuracy", result)
    print(f"{'class':<10} accuracy")
    for c, acc in per_class.items():
        print(f"{c:<10} {100 * acc:6.1f}%{'   (demo)' if c in DEMO_MATERIALS else ''}")
    print(f"top-1 {100 * top1:.2f}% on {result['frames']} frames via `tactile-material classify`; wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
