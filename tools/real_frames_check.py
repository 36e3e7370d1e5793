"""Classify the real DIGIT frames the package compares against, and say what each one got.

    python tools/real_frames_check.py REAL_DIGIT_DIR [--model models/tactile_vit.onnx] [--out DIR]

REAL_DIGIT_DIR holds ``sensor_a/background.png`` with ``sensor_a/contact_NN.png`` (31 presses
of a sphere by one DIGIT) and frames of other DIGITs without a background of their own
(``contact_sphere_NNNN.png``, ``contact_grasp_N.png``, ``background_tacto.jpg``: the latter's
no-contact frame, of yet another sensor, serves as their reference, so they are doubly
unfamiliar). The files are read in place. It writes a labelled TVL CSV into a temporary folder
(backgrounds as class ``no_contact``, presses as class ``real_press``, which the model does not
have), runs the package's ``evaluate`` on it and prints, per group, how many frames got a
material, ``unknown`` (by reason) or ``no_contact`` (for a press: a missed contact).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

from tactile_material_ros.learning.evaluation import evaluate
from tactile_material_ros.paths import model_file


def write_csv(real: Path, folder: Path) -> Path:
    rows = []
    a = real / "sensor_a"
    rows.append(("a_background", "sensor_a", a / "background.png", "no_contact", a / "background.png"))
    rows += [(f"a_{p.stem}", "sensor_a", p, "real_press", a / "background.png") for p in sorted(a.glob("contact_*.png"))]
    other = real / "background_tacto.jpg"
    rows.append(("tacto_background", "other", other, "no_contact", other))
    rows += [(f"other_{p.stem}", "other", p, "real_press", other) for p in sorted(real.glob("contact_*.png"))]
    path = folder / "real.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["sample_id", "dataset", "tactile", "vision", "caption", "class", "background"])
        writer.writerows([sid, ds, str(t), "", "", cls, str(bg)] for sid, ds, t, cls, bg in rows)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("real", type=lambda s: Path(s).resolve())
    parser.add_argument("--model", default=str(model_file()))
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp) / "eval"
        evaluate(args.model, write_csv(args.real, Path(tmp)), out)
        with open(out / "predictions.csv") as f:
            predictions = list(csv.DictReader(f))
    groups: dict[str, Counter] = {}
    for p in predictions:
        group = ("sensor_a " if p["sample_id"].startswith("a_") else "other DIGITs ") + (
            "no contact" if p["class"] == "no_contact" else "presses")
        answer = p["label"] if p["label"] in ("unknown", "no_contact") else "a material"
        if p["label"] == "unknown":
            answer = f"unknown ({p['reason']})"
        groups.setdefault(group, Counter())[answer] += 1
    summary = {g: dict(c) for g, c in groups.items()}
    sys.stdout.write(json.dumps(summary, indent=1) + "\n")
    materials = Counter(p["label"] for p in predictions if p["label"] not in ("unknown", "no_contact"))
    sys.stdout.write(f"materials given: {dict(materials)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
