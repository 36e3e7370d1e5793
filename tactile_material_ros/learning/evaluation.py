"""`evaluate`: top-1 accuracy, per-class precision/recall, confusion matrix (JSON and PNG).

Works on a trained student (a run directory, PyTorch) or on an exported model (``.onnx``,
through the same ONNX classifier the node uses); both read frames through the one
preprocessing function with the model's own preprocessing parameters.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from tactile_material_ros.inference.preprocessing import FrameError, PreprocessConfig
from tactile_material_ros.inference.press_fusion import UNKNOWN
from tactile_material_ros.learning.datasets import DatasetError, load_images, load_table
from tactile_material_ros.learning.students import TactileViT, load_student

log = logging.getLogger(__name__)


@dataclass
class Predictions:
    class_names: list[str]
    labels: np.ndarray         # (N,) true class indices
    probabilities: np.ndarray  # (N, C)
    sample_ids: list[str]


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """rows = true class, columns = predicted class."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (labels, predicted), 1)
    return matrix


def classification_report(labels: np.ndarray, predicted: np.ndarray, class_names: list[str]) -> dict[str, Any]:
    matrix = confusion_matrix(labels, predicted, len(class_names))
    per_class = {}
    for i, name in enumerate(class_names):
        tp = int(matrix[i, i])
        support, predicted_count = int(matrix[i].sum()), int(matrix[:, i].sum())
        per_class[name] = {"precision": tp / predicted_count if predicted_count else 0.0,
                           "recall": tp / support if support else 0.0, "support": support}
    return {"top1": float((labels == predicted).mean()) if len(labels) else 0.0, "samples": int(len(labels)),
            "per_class": per_class, "confusion_matrix": matrix.tolist(), "class_names": class_names}


def plot_confusion(report: dict[str, Any], path: str | Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = report["class_names"]
    rows = report.get("rows", names)
    matrix = np.asarray(report["confusion_matrix"], dtype=float)
    normalised = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    size = max(5.0, 0.42 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, max(3.0, 0.42 * len(rows) + 2)))
    image = ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    for i in range(len(rows)):
        for j in range(len(names)):
            if matrix[i, j]:
                ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=6,
                        color="white" if normalised[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or f"top-1 {100 * report['top1']:.2f}% on {report['samples']} frames")
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of true class")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


@torch.no_grad()
def torch_probabilities(student: TactileViT, pixels: torch.Tensor, batch_size: int = 128) -> np.ndarray:
    student.eval()
    out = [torch.softmax(student(pixels[i:i + batch_size].float()).logits, -1) for i in range(0, len(pixels), batch_size)]
    return torch.cat(out).numpy()


def _remap_labels(table_classes: tuple[str, ...], model_classes: list[str]) -> np.ndarray:
    """Index map from the data set's class order to the model's; classes the model lacks are refused."""
    unknown = [c for c in table_classes if c not in model_classes]
    if unknown:
        raise DatasetError(f"the data holds class(es) {unknown} the model does not know (model: {model_classes})")
    return np.array([model_classes.index(c) for c in table_classes], dtype=np.int64)


def predict_dataset(model: str | Path, data: str | Path) -> Predictions:
    """Class probabilities of every usable frame of ``data`` under ``model`` (run dir or .onnx)."""
    model = Path(model)
    table = load_table(data)
    if model.suffix == ".onnx":
        from tactile_material_ros.inference.onnx_classifier import OnnxClassifier, softmax

        classifier = OnnxClassifier(model, require_familiarity=False)  # the bare model's argmax accuracy
        class_names, preprocessing = list(classifier.class_names), classifier.card.preprocessing
        images = load_images(table, preprocessing, desc="evaluation")
        pixels = images.pixels.float().numpy()
        probabilities = np.concatenate([softmax(classifier.logits_from_input(pixels[i:i + 64]))
                                        for i in range(0, len(pixels), 64)])
    else:
        student, meta = load_student(model)
        class_names, preprocessing = meta["class_names"], PreprocessConfig.from_dict(meta["preprocessing"])
        images = load_images(table, preprocessing, desc="evaluation")
        probabilities = torch_probabilities(student, images.pixels)
    labels = _remap_labels(table.class_names, class_names)[images.labels.numpy()]
    return Predictions(class_names, labels, probabilities, [table.samples[i].sample_id for i in images.rows])


class _TorchModel:
    """A trained run directory behind the interface the Recognizer uses (no familiarity statistics: a run
    directory has none until export fits them)."""

    familiarity = None

    def __init__(self, run: Path) -> None:
        from tactile_material_ros.inference.model_card import ModelCard

        self.student, meta = load_student(run)
        self.card = ModelCard(class_names=tuple(meta["class_names"]),
                              preprocessing=PreprocessConfig.from_dict(meta["preprocessing"]), sha256="", model_file=str(run))
        self.class_names = self.card.class_names

    @torch.no_grad()
    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        cls = self.student.eval().cls(torch.from_numpy(batch).float())
        return self.student.head(cls).numpy(), cls.numpy()


def outcome(true_class: str, label: str, model_classes: Sequence[str]) -> str:
    """``right``, ``wrong_material`` (a material other than the true one) or ``declined`` (unknown/no_contact
    where a material was due, or the reverse miss: no_contact for a press of a class the model lacks)."""
    from tactile_material_ros.inference.recognition import NO_CONTACT

    if true_class == NO_CONTACT:
        return "right" if label == NO_CONTACT else ("wrong_material" if label not in (UNKNOWN,) else "declined")
    if true_class in model_classes:
        return "right" if label == true_class else ("declined" if label in (UNKNOWN, NO_CONTACT) else "wrong_material")
    return "right" if label in (UNKNOWN, NO_CONTACT) else "wrong_material"


def evaluate(model: str | Path, data: str | Path, out: str | Path, confidence_threshold: float = 0.5,
             reference: str | Path | None = None) -> dict[str, Any]:
    """Three-answer evaluation of ``model`` (.onnx or run directory) on any labelled set.

    Every frame goes through the classifier's own Recognizer (contact check, model, familiarity,
    confidence). Rows may be of classes the model lacks (right only when labelled ``unknown`` or
    ``no_contact``); the class ``no_contact`` means "must be labelled no_contact". Writes
    ``metrics.json``, ``predictions.csv`` (sample_id,class,label,confidence,reason) and
    ``confusion.png`` into ``out``; returns the metrics."""
    import csv

    import cv2

    from tactile_material_ros.inference.onnx_classifier import OnnxClassifier
    from tactile_material_ros.inference.recognition import NO_CONTACT, Recognizer
    from tactile_material_ros.learning.familiarity_fit import iter_frames

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = Path(model)
    backend = OnnxClassifier(model) if model.suffix == ".onnx" else _TorchModel(model)
    recognizer = Recognizer(backend, None, confidence_threshold)  # type: ignore[arg-type]
    names = list(recognizer.class_names)
    ref_image = None
    if reference:
        ref_image = cv2.imread(str(reference), cv2.IMREAD_COLOR)
        if ref_image is None:
            raise DatasetError(f"cannot read the reference frame {reference}")
    table = load_table(data)
    rows: list[dict[str, Any]] = []
    skipped = 0
    for _, sample, frame, ref, problem in tqdm(iter_frames(table, ref_image), total=len(table.samples),
                                               desc="evaluate", unit="img"):
        if problem or frame is None:
            log.warning("%s:%d: sample %s skipped: %s", table.source, sample.line, sample.sample_id, problem)
            skipped += 1
            continue
        try:
            result = recognizer.recognise([frame], ref)
        except (FrameError, ValueError) as exc:
            log.warning("%s:%d: sample %s skipped: %s", table.source, sample.line, sample.sample_id, exc)
            skipped += 1
            continue
        rows.append({"sample_id": sample.sample_id, "class": sample.label, "label": result.label,
                     "confidence": round(result.confidence, 4), "reason": result.reason,
                     "familiarity": None if result.familiarity is None else round(result.familiarity, 3),
                     "outcome": outcome(sample.label, result.label, names)})
    if not rows:
        raise DatasetError(f"{table.source}: none of {len(table.samples)} rows could be evaluated")
    with open(out / "predictions.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["sample_id", "class", "label", "confidence", "reason"])
        writer.writerows([r["sample_id"], r["class"], r["label"], f"{r['confidence']:.4f}", r["reason"]] for r in rows)
    report = three_answer_report(rows, names)
    report.update({"model": model.name, "data": Path(data).name, "skipped": skipped,
                   "confidence_threshold": confidence_threshold})
    (out / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    columns = names + [UNKNOWN, NO_CONTACT]
    true_classes = sorted({r["class"] for r in rows}, key=lambda c: (columns.index(c) if c in columns else len(columns), c))
    matrix = np.zeros((len(true_classes), len(columns)), dtype=np.int64)
    for r in rows:
        matrix[true_classes.index(r["class"]), columns.index(r["label"])] += 1
    plot_confusion({"class_names": columns, "rows": true_classes, "confusion_matrix": matrix.tolist(),
                    "top1": report["top1"], "samples": report["samples"]}, out / "confusion.png")
    log.info("top-1 %.2f%% (balanced %.2f%%), unknown %.1f%%, wrong material %.1f%% on %d frames; wrote %s",
             100 * report["top1"], 100 * report["balanced_accuracy"], 100 * report["unknown_rate"],
             100 * report["wrong_labelled_rate"], report["samples"], out / "metrics.json")
    return report


def three_answer_report(rows: list[dict[str, Any]], model_classes: Sequence[str]) -> dict[str, Any]:
    """top1, balanced accuracy, unknown / no_contact / wrong-material rates, reasons and per-class figures."""
    from tactile_material_ros.inference.recognition import NO_CONTACT

    n = len(rows)
    per_class: dict[str, dict[str, Any]] = {}
    for name in sorted({r["class"] for r in rows}):
        mine = [r for r in rows if r["class"] == name]
        labels: dict[str, int] = {}
        for r in mine:
            labels[r["label"]] = labels.get(r["label"], 0) + 1
        per_class[name] = {
            "support": len(mine), "in_model": name in model_classes,
            "accuracy": sum(r["outcome"] == "right" for r in mine) / len(mine),
            "unknown_rate": sum(r["label"] == UNKNOWN for r in mine) / len(mine),
            "wrong_labelled_rate": sum(r["outcome"] == "wrong_material" for r in mine) / len(mine),
            "labels": dict(sorted(labels.items(), key=lambda kv: -kv[1])),
        }
    reasons: dict[str, float] = {}
    for r in rows:
        if r["reason"]:
            reasons[r["reason"]] = reasons.get(r["reason"], 0) + 1 / n
    return {
        "top1": sum(r["outcome"] == "right" for r in rows) / n,
        "balanced_accuracy": float(np.mean([c["accuracy"] for c in per_class.values()])),
        "unknown_rate": sum(r["label"] == UNKNOWN for r in rows) / n,
        "no_contact_rate": sum(r["label"] == NO_CONTACT for r in rows) / n,
        "wrong_labelled_rate": sum(r["outcome"] == "wrong_material" for r in rows) / n,
        "reasons": reasons, "samples": n, "per_class": per_class,
    }
