"""Tactile data sets: the labelled TVL CSV layout and a plain folder-per-class layout.

TVL CSV (the layout of the paper authors' labelled TVL splits, and what ``synth`` writes)::

    sample_id,dataset,tactile,vision,caption,class[,background]

``tactile``, ``vision`` and ``background`` are image paths relative to the data root (the
CSV's folder unless given). ``vision`` may be empty: simulated data has no camera image, and
nothing here reads it. ``caption`` is the comma-separated TVL description. ``background``
(optional column, ours) is the no-contact frame of the sensor that took the row's image, for
background subtraction; rows without one fall back to a data-set-wide reference if given.

Folder-per-class: ``ROOT/<class>/*.png`` with an optional ``ROOT/no_contact.png`` reference.
It has no captions, so it can feed the non-distilled baseline (KD method ``none``),
fine-tuning and evaluation, but not distillation.

Class order: the ``class_names`` given, else ``classes.txt`` beside the CSV (one per line; synth
writes it in library order), else sorted. Malformed rows and unreadable images are counted,
logged with their line number and skipped.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm import tqdm

from tactile_material_ros.inference.preprocessing import FrameError, PreprocessConfig, preprocess

log = logging.getLogger(__name__)

TVL_COLUMNS = ("sample_id", "dataset", "tactile", "vision", "caption", "class")
BACKGROUND_COLUMN = "background"
CLASSES_FILE = "classes.txt"
FOLDER_REFERENCE = "no_contact.png"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


class DatasetError(ValueError):
    """A data set cannot be read at all (missing file, wrong header, no usable rows)."""


@dataclass(frozen=True)
class TactileSample:
    sample_id: str
    dataset: str
    tactile: Path
    caption: str
    label: str
    vision: Path | None = None
    background: Path | None = None
    line: int = 0  # line in the source CSV, for reports


@dataclass(frozen=True)
class RowProblem:
    source: str
    line: int  # 1-based line in the source file (the header is line 1); 0 for folder entries
    reason: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}" if self.line else f"{self.source}: {self.reason}"


@dataclass
class SampleTable:
    """The usable samples of one data set, its class order and what was skipped."""

    samples: list[TactileSample]
    class_names: tuple[str, ...]
    source: str
    problems: list[RowProblem] = field(default_factory=list)

    @property
    def has_captions(self) -> bool:
        return bool(self.samples) and all(s.caption for s in self.samples)

    def label_indices(self) -> np.ndarray:
        index = {name: i for i, name in enumerate(self.class_names)}
        return np.array([index[s.label] for s in self.samples], dtype=np.int64)

    def subset(self, indices: Sequence[int]) -> SampleTable:
        return SampleTable([self.samples[i] for i in indices], self.class_names, self.source, list(self.problems))


def _report(problems: list[RowProblem], source: str) -> None:
    for p in problems[:20]:
        log.warning("skipped %s", p)
    if len(problems) > 20:
        log.warning("... and %d more problems in %s", len(problems) - 20, source)
    if problems:
        log.warning("%s: %d row(s)/image(s) skipped", source, len(problems))


def _class_order(found: Sequence[str], given: Sequence[str] | None, classes_file: Path) -> tuple[str, ...]:
    if given:
        return tuple(given)
    if classes_file.is_file():
        return tuple(line.strip() for line in classes_file.read_text().splitlines() if line.strip())
    return tuple(sorted(set(found)))


def read_tvl_csv(csv_path: str | Path, root: str | Path | None = None,
                 class_names: Sequence[str] | None = None) -> SampleTable:
    """Read a labelled TVL CSV; malformed rows are reported with their line and skipped."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise DatasetError(f"data set CSV {csv_path} not found")
    root = Path(root) if root is not None else csv_path.parent
    source = str(csv_path)
    with open(csv_path, newline="") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        missing = [c for c in TVL_COLUMNS if c not in header]
        if missing:
            raise DatasetError(f"{csv_path} lacks column(s) {missing}; a TVL CSV has the header "
                               f"{','.join(TVL_COLUMNS)}[,{BACKGROUND_COLUMN}]")
        col = {name: header.index(name) for name in header}
        rows: list[tuple[int, dict[str, str]]] = []
        problems: list[RowProblem] = []
        for line, fields in enumerate(reader, start=2):
            if not fields:
                continue
            if len(fields) != len(header):
                problems.append(RowProblem(source, line, f"has {len(fields)} fields, the header has {len(header)}"))
                continue
            row = {name: fields[i].strip() for name, i in col.items()}
            empty = [c for c in ("sample_id", "tactile", "class") if not row[c]]
            if empty:
                problems.append(RowProblem(source, line, f"empty field(s) {empty}"))
                continue
            rows.append((line, row))
    classes = _class_order([r["class"] for _, r in rows], class_names, csv_path.parent / CLASSES_FILE)
    known = set(classes)
    samples: list[TactileSample] = []
    for line, row in rows:
        if row["class"] not in known:
            problems.append(RowProblem(source, line, f"class {row['class']!r} is not one of {list(classes)}"))
            continue
        background = row.get(BACKGROUND_COLUMN, "")
        samples.append(TactileSample(
            sample_id=row["sample_id"], dataset=row["dataset"], tactile=root / row["tactile"],
            caption=row["caption"], label=row["class"],
            vision=root / row["vision"] if row["vision"] else None,
            background=root / background if background else None, line=line,
        ))
    _report(problems, source)
    return SampleTable(samples, classes, source, problems)


def read_class_folders(root: str | Path, class_names: Sequence[str] | None = None) -> SampleTable:
    """Read ``ROOT/<class>/*.png`` (no captions). ``ROOT/no_contact.png`` becomes every row's background."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"data folder {root} not found")
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    classes = _class_order([p.name for p in folders], class_names, root / CLASSES_FILE)
    reference = root / FOLDER_REFERENCE
    samples = [
        TactileSample(sample_id=f"{folder.name}/{image.stem}", dataset=root.name, tactile=image, caption="",
                      label=folder.name, background=reference if reference.is_file() else None)
        for folder in folders if folder.name in classes
        for image in sorted(folder.iterdir()) if image.suffix.lower() in IMAGE_SUFFIXES
    ]
    return SampleTable(samples, classes, str(root))


def load_table(path: str | Path, class_names: Sequence[str] | None = None) -> SampleTable:
    """A TVL CSV file, a folder holding ``tvl.csv`` (what synth writes), or a folder per class."""
    path = Path(path)
    if path.is_dir() and (path / "tvl.csv").is_file():
        path = path / "tvl.csv"
    table = read_tvl_csv(path, class_names=class_names) if path.is_file() else read_class_folders(path, class_names)
    if not table.samples:
        raise DatasetError(f"{path}: no usable samples ({len(table.problems)} skipped)")
    return table


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(keep, held_out) indices; ``fraction`` of each class (at least one if it has 2+) is held out."""
    rng = np.random.default_rng(seed)
    keep, held = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n = int(round(fraction * len(idx))) if len(idx) > 1 else 0
        n = max(n, 1) if fraction > 0 and len(idx) > 1 else n
        held.extend(idx[:n])
        keep.extend(idx[n:])
    return np.sort(np.array(keep, dtype=np.int64)), np.sort(np.array(held, dtype=np.int64))


@dataclass
class ImageTensors:
    """Preprocessed images of a table (float16 to halve memory) and which rows they came from."""

    pixels: torch.Tensor  # (N, 3, S, S) float16
    labels: torch.Tensor  # (N,) int64
    rows: np.ndarray      # indices into the table's samples
    problems: list[RowProblem]


def read_frame(path: Path) -> np.ndarray | None:
    frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return frame if frame is not None and frame.size else None


def load_images(table: SampleTable, config: PreprocessConfig, reference: np.ndarray | None = None,
                desc: str = "images") -> ImageTensors:
    """Read and preprocess every image of ``table`` with the one preprocessing function.

    Unreadable images (and missing or unreadable background frames) are reported and skipped.
    ``reference`` serves rows that name no background of their own.
    """
    backgrounds: dict[Path, np.ndarray | None] = {}
    pixels = torch.empty((len(table.samples), 3, config.image_size, config.image_size), dtype=torch.float16)
    labels_all = table.label_indices()
    kept: list[int] = []
    problems: list[RowProblem] = []
    for i, sample in enumerate(tqdm(table.samples, desc=f"loading {desc}", unit="img", leave=False)):
        frame = read_frame(sample.tactile)
        if frame is None:
            problems.append(RowProblem(table.source, sample.line, f"sample {sample.sample_id}: unreadable image {sample.tactile}"))
            continue
        ref = reference
        if sample.background is not None and config.subtract_background:
            if sample.background not in backgrounds:
                backgrounds[sample.background] = read_frame(sample.background)
            ref = backgrounds[sample.background]
            if ref is None:
                problems.append(RowProblem(table.source, sample.line,
                                           f"sample {sample.sample_id}: unreadable background {sample.background}"))
                continue
        try:
            pixels[len(kept)] = torch.from_numpy(preprocess(frame, config, ref)[0])
        except FrameError as exc:
            problems.append(RowProblem(table.source, sample.line, f"sample {sample.sample_id}: {exc}"))
            continue
        kept.append(i)
    _report(problems, table.source)
    if not kept:
        raise DatasetError(f"{table.source}: none of {len(table.samples)} images could be used "
                           f"(first problem: {problems[0] if problems else 'none'})")
    rows = np.array(kept, dtype=np.int64)
    return ImageTensors(pixels[: len(kept)].clone(), torch.from_numpy(labels_all[rows]), rows, problems)
