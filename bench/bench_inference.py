"""Preprocessing + inference latency of the exported model on one DIGIT frame, against the 16.7 ms
frame period of a 60 fps DIGIT. Writes bench/results/inference.json and prints a table.

    .venv/bin/python bench/bench_inference.py [--model models/tactile_vit.onnx] [--iterations 300]

Frames come from the simulated DIGIT (a rubber ball at 24 N); each iteration classifies one
frame, batch 1, through OnnxClassifier (the node's path): preprocessing with background
subtraction, then ONNX Runtime. The machine is shared, so the table reports percentiles.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from tactile_material_ros.inference.onnx_classifier import OnnxClassifier
from tactile_material_ros.inference.preprocessing import preprocess
from tactile_material_ros.paths import model_file
from tactile_material_ros.sim.contact_model import Sphere
from tactile_material_ros.sim.digit_renderer import DigitRenderer

FRAME_PERIOD_MS = 1000.0 / 60.0
RESULTS = Path(__file__).resolve().parent / "results" / "inference.json"


def _stats(samples_ms: list[float]) -> dict[str, float]:
    a = np.asarray(samples_ms)
    return {"mean": float(a.mean()), "p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
            "p99": float(np.percentile(a, 99)), "max": float(a.max())}


def measure(model: Path, threads: int, frames: list[np.ndarray], reference: np.ndarray, iterations: int) -> dict:
    classifier = OnnxClassifier(model, threads=threads)
    config = classifier.card.preprocessing
    for frame in frames[:10]:  # warm-up
        classifier.predict_proba(frame, reference)
    pre, run, total = [], [], []
    for i in range(iterations):
        frame = frames[i % len(frames)]
        t0 = time.perf_counter()
        batch = preprocess(frame, config, reference)
        t1 = time.perf_counter()
        classifier.logits_from_input(batch)
        t2 = time.perf_counter()
        pre.append(1e3 * (t1 - t0))
        run.append(1e3 * (t2 - t1))
        total.append(1e3 * (t2 - t0))
    # and the public one-call path the node uses, to make sure it costs the same
    t0 = time.perf_counter()
    for i in range(iterations):
        classifier.predict_proba(frames[i % len(frames)], reference)
    one_call = 1e3 * (time.perf_counter() - t0) / iterations
    return {"model": model.name, "threads": threads, "image_size": config.image_size,
            "preprocess_ms": _stats(pre), "onnx_ms": _stats(run), "total_ms": _stats(total),
            "predict_proba_mean_ms": one_call,
            "within_frame_period_p95": _stats(total)["p95"] < FRAME_PERIOD_MS}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(model_file()))
    parser.add_argument("--iterations", type=int, default=300)
    args = parser.parse_args()
    model = Path(args.model)
    renderer = DigitRenderer(background_seed=123)
    rng = np.random.default_rng(0)
    frames = [renderer.render("rubber", Sphere(0.02), 24.0, tool_angle_rad=a, rng=rng) for a in np.linspace(0, 3, 8)]
    reference = renderer.no_contact(rng)
    models = [model] + [p for p in [model.with_name(model.stem + "_int8.onnx")] if p.is_file()]
    rows = [measure(m, threads, frames, reference, args.iterations) for m in models for threads in (1, 2)]
    result = {"frame_period_ms": FRAME_PERIOD_MS, "iterations": args.iterations, "cpu_count": os.cpu_count(),
              "machine": platform.machine(), "processor": platform.processor() or platform.machine(),
              "load_average": os.getloadavg(), "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
              "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "rows": rows}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'model':<24} {'thr':>3} {'pre p50':>8} {'onnx p50':>9} {'total p50':>10} {'total p95':>10} {'p99':>7}  < 16.7 ms")
    for r in rows:
        print(f"{r['model']:<24} {r['threads']:>3} {r['preprocess_ms']['p50']:8.2f} {r['onnx_ms']['p50']:9.2f} "
              f"{r['total_ms']['p50']:10.2f} {r['total_ms']['p95']:10.2f} {r['total_ms']['p99']:7.2f}  "
              f"{'yes' if r['within_frame_period_p95'] else 'NO'}")
    print(f"wrote {RESULTS} (load average {result['load_average'][0]:.2f} on {os.cpu_count()} cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
