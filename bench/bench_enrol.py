"""`enrol` on a sensor family the bundled model never saw, against the colour/gradient-histogram baseline; and its time.

    python bench/bench_enrol.py [--objects 10] [--presses 4] [--enrolled-objects 8] [--out DIR]

1. Renders presses of ``--objects`` distinct objects of each of 8 materials, ``--presses``
   each, by one simulated sensor of another family (learning/object_presses.py: 320x240
   landscape, LEDs elsewhere, stronger contact, blur, noise, JPEG).
2. Splits them as the issue's real check does: of the first ``--enrolled-objects`` objects of each
   material, 2 presses are enrolled and the others tested ("other presses of enrolled objects");
   the remaining objects are tested as "objects not enrolled".
3. Runs ``tactile-material enrol`` on the enrolled presses and ``evaluate`` (the three-answer path:
   ``unknown`` and ``no_contact`` count as wrong) on both test sets; and the baseline on the same
   split: per-channel histograms of the difference image (frame - no-contact frame, 32 bins over
   ±64 grey levels) + a magnitude-weighted gradient-orientation histogram (9 bins) + a gradient
   magnitude histogram (16 bins), each normalised to sum 1, 1-nearest neighbour (Euclidean).
4. Times ``enrol`` on 8 classes x 15 presses (the first 15 presses of each material; needs
   ``--objects x --presses`` >= 15).
5. Times one frame through the base model and through the enrolled one (ONNX Runtime, 2 threads,
   batch 1, median of 30 runs after 3 warm-up runs): what the press descriptors add per frame.
6. Checks that the enrolled model answers ``no_contact`` for real DIGIT backgrounds when a
   folder of them is given (``--real DIR``, the layout of tools/real_frames_check.py).

Writes bench/results/bench_enrol.json.
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from measurement import command_line, machine, write_results

from tactile_material_ros.learning.enrol import EnrolConfig, enrol
from tactile_material_ros.learning.evaluation import evaluate
from tactile_material_ros.learning.object_presses import ObjectPressConfig, write_object_presses

HEADER = ["sample_id", "dataset", "tactile", "vision", "caption", "class", "background"]


def split(csv_path: Path, enrolled_objects: int, enrolled_presses: int = 2) -> dict[str, list[list[str]]]:
    with open(csv_path, newline="") as f:
        rows = list(csv.reader(f))[1:]
    parts: dict[str, list[list[str]]] = {"enrol": [], "same_objects": [], "new_objects": []}
    for row in rows:
        obj_index = int(row[1].rsplit("_", 1)[1])
        press = int(row[0].rsplit("-p", 1)[1])
        if obj_index >= enrolled_objects:
            parts["new_objects"].append(row)
        else:
            parts["enrol" if press < enrolled_presses else "same_objects"].append(row)
    return parts


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def histogram_descriptor(frame: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The baseline's descriptor of a press (see the module docstring)."""
    d = frame.astype(np.float32) - reference.astype(np.float32)
    parts = [np.histogram(d[..., c], bins=32, range=(-64, 64))[0].astype(np.float64) for c in range(3)]
    grey = d.mean(axis=2)
    gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    magnitude, angle = np.hypot(gx, gy), np.mod(np.arctan2(gy, gx), np.pi)
    parts.append(np.histogram(angle, bins=9, range=(0, np.pi), weights=magnitude)[0])
    parts.append(np.histogram(magnitude, bins=16, range=(0, 200))[0].astype(np.float64))
    return np.concatenate([p / max(p.sum(), 1e-9) for p in parts])


def baseline(root: Path, parts: dict[str, list[list[str]]]) -> dict[str, dict[str, float]]:
    def load(rows: list[list[str]]) -> tuple[np.ndarray, np.ndarray]:
        x = [histogram_descriptor(cv2.imread(str(root / r[2])), cv2.imread(str(root / r[6]))) for r in rows]
        return np.stack(x), np.array([r[5] for r in rows])

    train_x, train_y = load(parts["enrol"])
    out = {}
    for name in ("same_objects", "new_objects"):
        x, y = load(parts[name])
        predicted = train_y[((x[:, None] - train_x[None]) ** 2).sum(-1).argmin(1)]
        recall = [float(np.mean(predicted[y == c] == c)) for c in np.unique(y)]
        out[name] = {"top1": float(np.mean(predicted == y)), "balanced_accuracy": float(np.mean(recall)),
                     "frames": int(len(y))}
    return out


def real_backgrounds(real: Path, model: Path, folder: Path) -> dict[str, object]:
    rows = [["a_background", "real", str((real / "sensor_a" / "background.png").resolve()), "", "", "no_contact",
             str((real / "sensor_a" / "background.png").resolve())]]
    tacto = real / "background_tacto.jpg"
    if tacto.is_file():
        rows.append(["tacto_background", "real", str(tacto.resolve()), "", "", "no_contact", str(tacto.resolve())])
    report = evaluate(model, write_csv(folder / "real_backgrounds.csv", rows), folder / "real_eval")
    return {"frames": report["samples"], "no_contact_rate": report["no_contact_rate"]}


def frame_latency_ms(model: Path, runs: int = 30) -> float:
    from tactile_material_ros.inference.onnx_classifier import OnnxClassifier

    classifier = OnnxClassifier(model, require_familiarity=False)
    size = classifier.card.preprocessing.image_size
    pixels = np.random.default_rng(0).normal(0, 0.1, (1, 3, size, size)).astype(np.float32)
    times = []
    for i in range(runs + 3):
        start = time.perf_counter()
        classifier.run(pixels)
        if i >= 3:
            times.append(1e3 * (time.perf_counter() - start))
    return float(np.median(times))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10, help="objects per material")
    parser.add_argument("--presses", type=int, default=4, help="presses per object")
    parser.add_argument("--enrolled-objects", type=int, default=8, help="objects per material enrolled (2 presses)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--real", type=Path, default=None, help="folder of real DIGIT frames (sensor_a/background.png)")
    parser.add_argument("--out", type=Path, default=None, help="keep the data and models here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = args.out or Path(tmp)
        data = root / "family"
        csv_path = write_object_presses(ObjectPressConfig(objects_per_material=args.objects,
                                                          presses_per_object=args.presses, seed=args.seed), data)
        parts = split(csv_path, args.enrolled_objects)
        for name, rows in parts.items():
            write_csv(data / f"{name}.csv", rows)
        model = root / "enrolled.onnx"
        start = time.perf_counter()
        card = enrol(EnrolConfig(data=str(data / "enrol.csv"), out=str(model), seed=args.seed))
        enrol_s = time.perf_counter() - start
        ours = {}
        for name in ("same_objects", "new_objects"):
            report = evaluate(model, data / f"{name}.csv", root / f"eval_{name}")
            ours[name] = {k: report[k] for k in ("top1", "balanced_accuracy", "unknown_rate", "no_contact_rate",
                                                 "wrong_labelled_rate", "samples", "reasons")}
        base = baseline(data, parts)
        with open(csv_path, newline="") as f:
            rows = list(csv.reader(f))[1:]
        per_material: dict[str, list[list[str]]] = {}
        for row in rows:
            per_material.setdefault(row[5], [])
            if len(per_material[row[5]]) < 15:
                per_material[row[5]].append(row)
        timed_csv = write_csv(data / "timing.csv", [r for rs in per_material.values() for r in rs])
        start = time.perf_counter()
        enrol(EnrolConfig(data=str(timed_csv), out=str(root / "timed.onnx"), seed=args.seed), progress=False)
        timed_s = time.perf_counter() - start
        real = real_backgrounds(args.real, model, root) if args.real else None
        from tactile_material_ros.paths import model_file

        latency = {"base_ms": frame_latency_ms(model_file()), "enrolled_ms": frame_latency_ms(model)}
    result = {"command": command_line(), "machine": machine(), "data": {
        "sensor_family": "simulated, held out (learning/object_presses.py)", "materials": 8,
        "objects_per_material": args.objects, "presses_per_object": args.presses,
        "enrolled_objects_per_material": args.enrolled_objects, "enrolled_presses": len(parts["enrol"])},
        "enrol": ours, "baseline_histogram_1nn": base, "enrol_seconds_this_split": round(enrol_s, 1),
        "enrol_seconds_8x15": round(timed_s, 1), "card_cross_validation": card["enrolment"]["cross_validation"],
        "real_backgrounds": real, "frame_latency_median": latency}
    write_results("bench_enrol", result)
    print(f"{'':28s}{'enrol top-1':>14s}{'enrol balanced':>16s}{'unknown':>9s}{'baseline top-1':>16s}"
          f"{'baseline balanced':>19s}")
    for name in ("same_objects", "new_objects"):
        o, b = ours[name], base[name]
        print(f"{name:28s}{100 * o['top1']:13.1f}%{100 * o['balanced_accuracy']:15.1f}%{100 * o['unknown_rate']:8.1f}%"
              f"{100 * b['top1']:15.1f}%{100 * b['balanced_accuracy']:18.1f}%")
    print(f"enrol: {enrol_s:.1f} s on this split, {timed_s:.1f} s for 8 classes x 15 presses; real backgrounds: {real}; "
          f"one frame: base {latency['base_ms']:.1f} ms, enrolled {latency['enrolled_ms']:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
