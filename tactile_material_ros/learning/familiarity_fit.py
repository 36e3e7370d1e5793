"""Fit a model's familiarity statistics (inference/familiarity.py) on its training and held-out frames.

The features come from the exported ONNX model itself and the contact signatures from the raw
frames and their sensors' no-contact references, exactly as the classifier computes them at
run time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from tqdm import tqdm

from tactile_material_ros.inference.contact_signature import contact_signature
from tactile_material_ros.inference.familiarity import Familiarity, fit_familiarity
from tactile_material_ros.inference.onnx_classifier import OnnxClassifier
from tactile_material_ros.inference.preprocessing import FrameError, preprocess
from tactile_material_ros.learning.datasets import DatasetError, SampleTable, TactileSample, load_table, read_frame

log = logging.getLogger(__name__)
BATCH = 32


def iter_frames(table: SampleTable, reference: np.ndarray | None = None
                ) -> Iterator[tuple[int, TactileSample, np.ndarray | None, np.ndarray | None, str]]:
    """(row, sample, frame, its sensor's reference, problem) for every row; a problem names what is missing.

    ``reference`` serves rows without a background of their own."""
    cache: dict[Path, np.ndarray | None] = {}
    for i, sample in enumerate(table.samples):
        frame = read_frame(sample.tactile)
        ref = reference
        if sample.background is not None:
            if sample.background not in cache:
                cache[sample.background] = read_frame(sample.background)
            ref = cache[sample.background]
        problem = ""
        if frame is None:
            problem = f"unreadable image {sample.tactile}"
        elif ref is None:
            problem = (f"no readable no-contact reference ({sample.background})" if sample.background else
                       "no no-contact reference: add a `background` column (or ROOT/no_contact.png for a folder)")
        yield i, sample, frame, ref, problem


def familiarity_inputs(model: OnnxClassifier, table: SampleTable, limit: int, seed: int, desc: str
                       ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Features and signatures of up to ``limit`` rows (a seeded sample), their labels and predictions."""
    if not model.card.feature_name:
        raise DatasetError(f"{model.model_path.name} has no feature output: re-export it with this version")
    rows = np.arange(len(table.samples))
    if len(rows) > limit:
        rows = np.sort(np.random.default_rng(seed).choice(rows, limit, replace=False))
    sub = table.subset(rows)
    labels_all = sub.label_indices()
    card = model.card
    features, signatures, labels, logits = [], [], [], []
    pixels: list[np.ndarray] = []

    def flush() -> None:
        if pixels:
            z, f = model.run(np.concatenate(pixels))
            logits.append(z)
            features.append(f)
            pixels.clear()

    for i, sample, frame, ref, problem in tqdm(iter_frames(sub), total=len(sub.samples), desc=desc, unit="img"):
        if problem or frame is None or ref is None:
            log.warning("familiarity: %s skipped: %s", sample.sample_id, problem)
            continue
        try:
            pixels.append(preprocess(frame, card.preprocessing, ref if card.preprocessing.subtract_background else None))
            signatures.append(contact_signature(frame, ref))
        except (FrameError, ValueError) as exc:
            log.warning("familiarity: %s skipped: %s", sample.sample_id, exc)
            continue
        labels.append(labels_all[i])
        if len(pixels) >= BATCH:
            flush()
    flush()
    if not labels:
        raise DatasetError(f"{table.source}: no usable frame for the familiarity statistics")
    z = np.concatenate(logits)
    return ({"features": np.concatenate(features), "signature": np.stack(signatures)},
            np.asarray(labels, dtype=np.int64), z.argmax(axis=1))


def fit_model_familiarity(model: OnnxClassifier, fit_data: str | Path, held_out_data: str | Path,
                          coverage: float = 0.99, limit: int = 4000, seed: int = 0) -> Familiarity:
    """Familiarity of ``model``: Gaussians on ``fit_data`` (its training frames), thresholds on ``held_out_data``."""
    names = list(model.class_names)
    fit_table = load_table(fit_data, names)
    held_table = load_table(held_out_data, names)
    fit_inputs, fit_labels, _ = familiarity_inputs(model, fit_table, limit, seed, "familiarity: training frames")
    held_inputs, _, held_predicted = familiarity_inputs(model, held_table, limit, seed, "familiarity: held-out frames")
    return fit_familiarity(fit_inputs, fit_labels, held_inputs, held_predicted, len(names), coverage,
                           {"fit_data": Path(fit_data).name, "held_out_data": Path(held_out_data).name})
