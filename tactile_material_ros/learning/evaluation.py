"""`evaluate`: top-1 accuracy, per-class precision/recall, confusion matrix (JSON and PNG).

Works on a trained student (a run directory, PyTorch) or on an exported model (``.onnx``,
through the same ONNX classifier the node uses); both read frames through the one
preprocessing function with the model's own preprocessing parameters.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tactile_material_ros.inference.preprocessing import PreprocessConfig
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
    matrix = np.asarray(report["confusion_matrix"], dtype=float)
    normalised = matrix / np.maximum(matrix.sum(1, keepdims=True), 1)
    size = max(5.0, 0.42 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(normalised, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    for i in range(len(names)):
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

        classifier = OnnxClassifier(model)
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


def evaluate(model: str | Path, data: str | Path, out: str | Path) -> dict[str, Any]:
    """Write ``metrics.json`` and ``confusion.png`` into ``out``; returns the report."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    predictions = predict_dataset(model, data)
    report = classification_report(predictions.labels, predictions.probabilities.argmax(-1), predictions.class_names)
    report.update({"model": str(Path(model).resolve()), "data": str(Path(data).resolve())})
    (out / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    plot_confusion(report, out / "confusion.png")
    log.info("top-1 %.2f%% on %d frames; wrote %s", 100 * report["top1"], report["samples"], out / "metrics.json")
    return report
