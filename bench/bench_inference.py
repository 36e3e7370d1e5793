"""Preprocessing + inference latency per DIGIT frame: the bundled model (fp32 and INT8) against
ViT-tiny/small/base at 224² measured side by side in one run, against the 16.7 ms frame period of
a 60 fps DIGIT. Writes bench/results/inference.json and prints a markdown table.

    .venv/bin/python bench/bench_inference.py [--iterations 300] [--block 25] [--paced-frames 1200]
        [--threads 2 1] [--sizes tiny small base] [--checkpoint base224=RUN_DIR ...] [--test-data DATA] [--no-train]

Every model runs through the node's path, batch 1: a ``Recognizer`` (contact check against the
reference, the one ``preprocess``, ONNX Runtime with 1 or 2 intra-op threads, and, for the bundled
model, the contact signature and familiarity check); preprocessing and the bare ONNX run are also
timed apart.
Frames come from the simulated DIGIT (a rubber ball at 24 N). Two timings:

- side by side: every model in turn, ``--block`` frames at a time, the starting model rotating,
  until each has ``--iterations`` frames, so load from other jobs on the shared machine falls
  on all of them alike; the speed ratios are taken from this one run;
- alone at 60 fps: each bundled model by itself, one frame every 16.7 ms as a DIGIT delivers
  them (the classifier node's situation), ``--paced-frames`` frames: its p99 against the
  frame period.

The 224² models are built by ``learning.students`` (12 blocks, patch 16, the same linear head)
and exported to ONNX by ``learning.export`` in a temporary folder. Without ``--checkpoint`` they
carry random weights: latency does not depend on weight values, only on the graph and shapes.
Their accuracy is measured only for a trained checkpoint (exported with its card's metrics on
``--test-data``, by default the bundled model's unseen-seed test set); otherwise the table shows
their distill training speed on this machine (a few real `distill` epochs on a small synthetic
set, batch ``--train-batch``) and the time the bundled recipe's epochs over its frames would take.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from distill_speed import hours_minutes, projected_recipe_seconds, render_set, timed_distill
from measurement import FRAME_PERIOD_MS, RESULTS_DIR, command_line, machine, markdown_table, stats, write_results

from tactile_material_ros.inference.model_card import ModelCard, card_path_for, sha256_file
from tactile_material_ros.inference.onnx_classifier import OnnxClassifier
from tactile_material_ros.inference.preprocessing import PreprocessConfig, preprocess
from tactile_material_ros.inference.recognition import Recognizer
from tactile_material_ros.paths import model_file
from tactile_material_ros.sim.contact_model import Sphere
from tactile_material_ros.sim.digit_renderer import DigitRenderer

log = logging.getLogger("bench_inference")
VARIANT_SIZE = 224
VARIANT_PATCH = 16
VARIANT_SIZES = ("tiny", "small", "base")
REFERENCE_VARIANT = "base224"  # the paper's student, ViT-B/16 at 224²
REQUIRED_SPEEDUP = 8.0
CLASSIFY_ACCURACY = RESULTS_DIR / "classify_accuracy.json"


@dataclass
class Candidate:
    """One model in the comparison."""

    key: str                     # "bundled", "bundled_int8", "tiny224", ...
    label: str                   # for the table
    path: Path
    weights: str                 # "trained" or "random (latency only)"
    accuracy: float | None = None
    accuracy_source: str = ""
    training: dict[str, Any] | None = None  # distill speed of an untrained variant


def _card_accuracy(path: Path) -> tuple[float | None, str]:
    """Top-1 on the unseen-seed test set from the model's card, else from classify_accuracy.json."""
    card = json.loads(card_path_for(path).read_text())
    if "quantization" in card and card.get("int8", {}).get("top1") is not None:
        return card["int8"]["top1"], f"card of {path.name} (int8.top1 on {card.get('metrics', {}).get('data', '?')})"
    if card.get("metrics", {}).get("top1") is not None:
        return card["metrics"]["top1"], f"card of {path.name} (metrics.top1 on {card['metrics'].get('data', '?')})"
    if CLASSIFY_ACCURACY.is_file():
        measured = json.loads(CLASSIFY_ACCURACY.read_text())
        if Path(measured["model"]).resolve() == path.resolve():
            return measured["top1"], f"{CLASSIFY_ACCURACY.name} ({measured['data']})"
    return None, "not measured"


def _describe(card: dict[str, Any]) -> str:
    arch = card.get("architecture", {})
    if not arch:
        return ""
    return f"ViT-{arch['size']} {arch['layers']} blocks, {arch['image_size']}/{arch['patch_size']}"


def bundled_candidates(model: Path) -> list[Candidate]:
    out = []
    for key, path in (("bundled", model), ("bundled_int8", model.with_name(model.stem + "_int8.onnx"))):
        if not path.is_file():
            continue
        accuracy, source = _card_accuracy(path)
        kind = "INT8" if key.endswith("int8") else "fp32"
        out.append(Candidate(key, f"bundled {kind} ({_describe(json.loads(card_path_for(path).read_text()))})", path,
                             "trained", accuracy, source))
    return out


def _random_variant(size: str, class_names: tuple[str, ...], path: Path) -> None:
    """A freshly initialised student at 224² exported with the package's exporter, and a card for OnnxClassifier."""
    from tactile_material_ros.learning.export import export_onnx
    from tactile_material_ros.learning.students import StudentConfig, build_student

    student = build_student(StudentConfig(size=size, image_size=VARIANT_SIZE, patch_size=VARIANT_PATCH),
                            len(class_names))
    export_onnx(student, VARIANT_SIZE, path, opset=17)
    ModelCard(class_names=class_names, preprocessing=PreprocessConfig(image_size=VARIANT_SIZE), sha256=sha256_file(path),
              model_file=path.name, extra={"architecture": {"size": size, "layers": student.encoder.config.num_hidden_layers,
                                                            "image_size": VARIANT_SIZE, "patch_size": VARIANT_PATCH},
                                           "weights": "random initialisation (latency benchmark only)"}
              ).save(card_path_for(path))


def _trained_variant(key: str, run_dir: str, test_data: str, path: Path) -> tuple[float, str]:
    """Export a trained checkpoint with `export` (its card's metrics are measured on ``test_data``)."""
    from tactile_material_ros.learning.export import ExportConfig, export

    card = export(path, ExportConfig(checkpoint=run_dir, eval_data=test_data))
    arch = card["architecture"]
    if arch["image_size"] != VARIANT_SIZE or arch["size"] != key.removesuffix(str(VARIANT_SIZE)):
        raise ValueError(f"--checkpoint {key}={run_dir} is a ViT-{arch['size']} at {arch['image_size']} px, "
                         f"not a ViT-{key.removesuffix(str(VARIANT_SIZE))} at {VARIANT_SIZE} px")
    return card["metrics"]["top1"], f"export of {run_dir} (metrics.top1 on {card['metrics']['data']})"


def variant_candidates(args: argparse.Namespace, class_names: tuple[str, ...], workdir: Path,
                       test_data: str | None) -> list[Candidate]:
    out = []
    for size in args.sizes:
        key = f"{size}{VARIANT_SIZE}"
        path = workdir / f"vit_{key}.onnx"
        label = f"ViT-{size}/{VARIANT_SIZE} (12 blocks, patch {VARIANT_PATCH})"
        if key in args.checkpoint:
            if not test_data:
                raise SystemExit(f"--checkpoint {key}=... needs --test-data (the bundled card names no test set)")
            accuracy, source = _trained_variant(key, args.checkpoint[key], test_data, path)
            out.append(Candidate(key, label, path, "trained", accuracy, source))
        else:
            _random_variant(size, class_names, path)
            out.append(Candidate(key, label, path, "random (latency only)"))
    return out


def measure_training(candidates: list[Candidate], args: argparse.Namespace, workdir: Path) -> None:
    """Distill speed of every untrained 224² variant: a few epochs of the real distill on a small set."""
    from tactile_material_ros.learning.students import StudentConfig
    from tactile_material_ros.learning.teachers import load_teacher

    untrained = [c for c in candidates if c.weights != "trained" and c.key.endswith(str(VARIANT_SIZE))]
    if not untrained:
        return
    data = workdir / "synth"
    rendered = render_set(data, args.train_per_class, seed=11)
    teacher = load_teacher()
    for c in untrained:
        log.info("distill speed of %s: %d epoch(s), batch %d", c.key, args.train_epochs, args.train_batch)
        c.training = timed_distill(data, workdir / f"distill_{c.key}", StudentConfig(
            size=c.key.removesuffix(str(VARIANT_SIZE)), image_size=VARIANT_SIZE, patch_size=VARIANT_PATCH),
            args.train_epochs, args.train_batch, workdir / "embeddings", teacher)
        c.training["data"] = rendered
        c.training["projected_recipe_seconds"] = round(projected_recipe_seconds(c.training["steady_images_per_second"]))


def _frames() -> tuple[list[np.ndarray], np.ndarray]:
    renderer = DigitRenderer(background_seed=123)
    rng = np.random.default_rng(0)
    frames = [renderer.render("rubber", Sphere(0.02), 24.0, tool_angle_rad=a, rng=rng) for a in np.linspace(0, 3, 8)]
    return frames, renderer.no_contact(rng)


def _recognizer(path: Path, threads: int) -> Recognizer:
    """The node's path for one model. The untrained variants have no familiarity statistics, so they skip
    that step: the bundled model's times include it, the variants' do not (the ratios favour the variants)."""
    return Recognizer(OnnxClassifier(path, threads=threads, require_familiarity=False))


def _time_frame(recognizer: Recognizer, frame: np.ndarray, reference: np.ndarray) -> tuple[float, float, float]:
    """(preprocess, ONNX Runtime, total) milliseconds for one frame. Total is the whole recognition the node
    runs per frame (contact check, the one preprocess, the model, the contact signature and familiarity);
    preprocess and ONNX Runtime are timed apart on the same frame first."""
    classifier = recognizer.model
    t0 = time.perf_counter()
    batch = preprocess(frame, classifier.card.preprocessing, reference)
    t1 = time.perf_counter()
    classifier.run(batch)
    t2 = time.perf_counter()
    recognizer.assess([frame], reference)
    t3 = time.perf_counter()
    return 1e3 * (t1 - t0), 1e3 * (t2 - t1), 1e3 * (t3 - t2)


def measure_latency(candidates: list[Candidate], threads: list[int], frames: list[np.ndarray], reference: np.ndarray,
                    iterations: int, block: int) -> list[dict[str, Any]]:
    """Every (model, threads) session in turn, ``block`` frames at a time, the first session rotating each turn,
    until each has ``iterations`` frames: side by side in one run, without evicting a small model from the
    CPU caches between every two of its frames (which a frame-by-frame round-robin with ViT-base does)."""
    sessions = [(c, t, _recognizer(c.path, t)) for c in candidates for t in threads]
    for _, _, recognizer in sessions:
        for frame in frames[:10]:  # warm-up
            recognizer.assess([frame], reference)
    samples: dict[int, dict[str, list[float]]] = {i: {"pre": [], "run": [], "total": []} for i in range(len(sessions))}
    turns = -(-iterations // block)
    for turn in range(turns):
        for j in range(len(sessions)):
            k = (turn + j) % len(sessions)
            for i in range(block):
                pre, run, total = _time_frame(sessions[k][2], frames[(turn * block + i) % len(frames)], reference)
                samples[k]["pre"].append(pre)
                samples[k]["run"].append(run)
                samples[k]["total"].append(total)
    rows = []
    for k, (c, t, recognizer) in enumerate(sessions):
        classifier = recognizer.model
        # the bare model call (no contact check, no familiarity), for comparison (short, after the main loop)
        calls = min(iterations, 50)
        t0 = time.perf_counter()
        for i in range(calls):
            classifier.predict_proba(frames[i % len(frames)], reference)
        one_call = 1e3 * (time.perf_counter() - t0) / calls
        total = stats(samples[k]["total"])
        rows.append({"model": c.path.name, "key": c.key, "label": c.label, "weights": c.weights, "threads": t,
                     "image_size": classifier.card.preprocessing.image_size,
                     "preprocess_ms": stats(samples[k]["pre"]), "onnx_ms": stats(samples[k]["run"]), "total_ms": total,
                     "predict_proba_mean_ms": one_call, "accuracy_top1": c.accuracy,
                     "accuracy_source": c.accuracy_source, "training": c.training})
    return rows


def measure_paced(candidates: list[Candidate], threads: list[int], frames: list[np.ndarray], reference: np.ndarray,
                  count: int) -> list[dict[str, Any]]:
    """The node's situation: one model alone, a frame every 16.7 ms (60 fps), the model idle in between."""
    period = FRAME_PERIOD_MS / 1e3
    rows = []
    for c in candidates:
        for t in threads:
            classifier = _recognizer(c.path, t)
            for frame in frames[:10]:
                classifier.assess([frame], reference)
            totals = []
            tick = time.perf_counter()
            for i in range(count):
                totals.append(_time_frame(classifier, frames[i % len(frames)], reference)[2])
                tick += period
                time.sleep(max(0.0, tick - time.perf_counter()))
            total = stats(totals)
            rows.append({"key": c.key, "label": c.label, "threads": t, "frames": count, "total_ms": total,
                         "p99_below_frame_period": total["p99"] < FRAME_PERIOD_MS,
                         "missed_frame_periods": int(sum(x >= FRAME_PERIOD_MS for x in totals))})
    return rows


def comparisons(rows: list[dict[str, Any]], paced: list[dict[str, Any]]) -> dict[str, Any]:
    """Per thread count: ViT-base/224 p50 ÷ bundled p50 (fp32 and INT8) side by side, and the bundled
    models' p99 at 60 fps alone (the node's situation) against the frame period."""
    by = {(r["key"], r["threads"]): r for r in rows}
    alone = {(r["key"], r["threads"]): r for r in paced}
    out: dict[str, Any] = {}
    for threads in sorted({r["threads"] for r in rows}, reverse=True):
        entry: dict[str, Any] = {}
        for key in ("bundled", "bundled_int8"):
            if (key, threads) not in by:
                continue
            bundled = by[(key, threads)]["total_ms"]
            if (key, threads) in alone:
                entry[f"{key}_at_60fps_p99_ms"] = alone[(key, threads)]["total_ms"]["p99"]
                entry[f"{key}_at_60fps_p99_below_frame_period"] = alone[(key, threads)]["p99_below_frame_period"]
            if (REFERENCE_VARIANT, threads) in by:
                ratio = by[(REFERENCE_VARIANT, threads)]["total_ms"]["p50"] / bundled["p50"]
                entry[f"{REFERENCE_VARIANT}_p50_over_{key}_p50"] = ratio
                entry[f"{key}_at_least_{REQUIRED_SPEEDUP:g}x_faster"] = ratio >= REQUIRED_SPEEDUP
        out[f"{threads}_threads"] = entry
    return out


def _quality(row: dict[str, Any]) -> str:
    if row["accuracy_top1"] is not None:
        return f"{100 * row['accuracy_top1']:.2f}%"
    training = row["training"]
    if training:
        speed = training["steady_images_per_second"]
        return (f"not trained: distill {speed:.1f} img/s (batch {training['batch_size']}) → bundled recipe "
                f"≈ {hours_minutes(training['projected_recipe_seconds'])}")
    return "not trained (training speed not measured)"


def table(rows: list[dict[str, Any]]) -> str:
    bundled_p50 = {r["threads"]: r["total_ms"]["p50"] for r in rows if r["key"] == "bundled"}
    lines = []
    for r in sorted(rows, key=lambda r: (-r["threads"], r["total_ms"]["p50"])):
        t = r["total_ms"]
        ratio = f"{t['p50'] / bundled_p50[r['threads']]:.1f}×" if r["threads"] in bundled_p50 else "–"
        lines.append([r["label"], str(r["threads"]), f"{r['preprocess_ms']['p50']:.2f}", f"{t['p50']:.2f}",
                      f"{t['p95']:.2f}", f"{t['p99']:.2f}", f"{t['mean']:.2f}", ratio, _quality(r)])
    return markdown_table(["model", "threads", "preprocess p50 [ms]", "total p50 [ms]", "p95 [ms]", "p99 [ms]",
                           "mean [ms]", "p50 ÷ bundled fp32", "top-1 (unseen-seed test set) / training"], lines)


def paced_table(paced: list[dict[str, Any]]) -> str:
    lines = [[r["label"], str(r["threads"]), str(r["frames"]), f"{r['total_ms']['p50']:.2f}", f"{r['total_ms']['p95']:.2f}",
              f"{r['total_ms']['p99']:.2f}", f"{r['total_ms']['max']:.2f}", str(r["missed_frame_periods"])]
             for r in paced]
    return markdown_table(["alone at 60 fps", "threads", "frames", "p50 [ms]", "p95 [ms]", "p99 [ms]", "max [ms]",
                           "frames over 16.7 ms"], lines)


def _checkpoint_arg(items: list[str]) -> dict[str, str]:
    known = [f"{s}{VARIANT_SIZE}" for s in VARIANT_SIZES]
    out = {}
    for item in items:
        key, sep, run = item.partition("=")
        if not sep or key not in known:
            raise SystemExit(f"--checkpoint {item!r}: expected KEY=RUN_DIR with KEY one of {', '.join(known)}")
        out[key] = run
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(model_file()), help="bundled fp32 model (its _int8 twin is taken beside it)")
    parser.add_argument("--iterations", type=int, default=300, help="frames per model and thread count, side by side")
    parser.add_argument("--block", type=int, default=25, help="frames per model per turn of the side-by-side timing")
    parser.add_argument("--paced-frames", type=int, default=1200,
                        help="frames per bundled model timed alone at 60 fps (20 s each)")
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1], help="ONNX Runtime intra-op threads")
    parser.add_argument("--sizes", nargs="*", default=list(VARIANT_SIZES), choices=VARIANT_SIZES,
                        help=f"ViT sizes to build at {VARIANT_SIZE}² (none: bundled models only)")
    parser.add_argument("--checkpoint", action="append", default=[], metavar="KEY=RUN_DIR",
                        help=f"a trained {VARIANT_SIZE}² student (e.g. base224=runs/base224/finetune): its accuracy is measured")
    parser.add_argument("--test-data", default=None,
                        help="test set for --checkpoint accuracy (default: the one on the bundled model's card)")
    parser.add_argument("--no-train", action="store_true", help="skip the distill-speed runs of untrained variants")
    parser.add_argument("--train-per-class", type=int, default=6, help="synthetic presses per class for the speed runs")
    parser.add_argument("--train-epochs", type=int, default=2, help="distill epochs per speed run (the last one is reported)")
    parser.add_argument("--train-batch", type=int, default=32, help="distill batch size of the speed runs")
    parser.add_argument("--workdir", default=None, help="keep the exported models and speed runs here (default: a temp dir)")
    args = parser.parse_args()
    args.checkpoint = _checkpoint_arg(args.checkpoint)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    model = Path(args.model)
    candidates = bundled_candidates(model)
    if not candidates:
        raise SystemExit(f"no model at {model}")
    card = json.loads(card_path_for(model).read_text())
    test_data = args.test_data or card.get("metrics", {}).get("data")
    with tempfile.TemporaryDirectory(prefix="bench_inference_") as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        variants = variant_candidates(args, tuple(card["class_names"]), workdir, test_data)
        if not args.no_train:
            measure_training(variants, args, workdir)
        frames, reference = _frames()
        paced = measure_paced(candidates, args.threads, frames, reference, args.paced_frames)
        rows = measure_latency(candidates + variants, args.threads, frames, reference, args.iterations, args.block)
    host = machine()
    result = {"frame_period_ms": FRAME_PERIOD_MS, "iterations": args.iterations, "cpu_count": host["cpus"],
              "machine": platform.machine(), "processor": host["cpu_model"], "load_average": host["load_average"],
              "command": command_line(), "time": host["time"], "host": host,
              "order": f"side by side: each session {args.block} frames per turn, starting session rotating; "
                       "paced: each bundled model alone, one frame per 16.7 ms",
              "random_weights_note": "variants without --checkpoint carry random weights; latency does not depend on "
                                     "weight values", "comparisons": comparisons(rows, paced), "rows": rows, "paced": paced}
    path = write_results("inference", result)
    print(table(rows))
    print()
    print(paced_table(paced))
    for threads, entry in result["comparisons"].items():
        print(f"{threads}: " + ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in entry.items()))
    print(f"wrote {path} (load average {host['load_average'][0]:.2f} on {host['cpus']} cores, {host['cpu_model']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
