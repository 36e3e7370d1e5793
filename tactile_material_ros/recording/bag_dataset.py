"""`tactile-material dataset`: recorded palpation bags -> a TVL CSV data set that every learning command reads.

Layout written under ``out`` (the layout ``synth`` writes, so ``enrol``, ``finetune`` and
``evaluate`` read it as they read any TVL CSV)::

    tvl.csv                        sample_id,dataset,tactile,vision,caption,class,background
    tactile/<class>/<id>.png       frames of the hold windows (one per press by default: the middle one)
    background/<bag>_c<cycle>.png  each cycle's no-contact reference frame
    dataset.json                   {"sensor_serial": ..., "bags": [...], "presses": {class: n}, ...}

Paths in the CSV are relative to it. ``class`` is the cycle's label (``--label`` replaces it);
``caption`` is a TVL-style description drawn from the material library's term statistics when
the label is a known material, else empty. ``dataset`` is the bag's name. Only cycles that
ended ``done`` are used. Errors name the bag and the fix: a bag without frames, a cycle without
a reference frame or a label, frames of different sizes.
"""

from __future__ import annotations

import csv
import json
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tactile_material_ros.learning.datasets import BACKGROUND_COLUMN, TVL_COLUMNS, DatasetError
from tactile_material_ros.recording.palpation_bag import RecordedCycle, StampedImage, read_cycles
from tactile_material_ros.sim.descriptions import sample_caption
from tactile_material_ros.sim.materials import MaterialLibrary, default_library

log = logging.getLogger(__name__)

CSV_NAME = "tvl.csv"
META_NAME = "dataset.json"


@dataclass(frozen=True)
class BagDatasetConfig:
    bags: tuple[str, ...]
    out: str
    frames_per_press: int = 1       # frames taken from each hold window, evenly spaced (1: the middle one)
    label: str = ""                 # replaces every cycle's label
    seed: int = 0                   # for the captions

    def __post_init__(self) -> None:
        if not self.bags:
            raise DatasetError("no bag given: name one or more bags recorded with `tactile-material record` "
                               "or the graph's record:=true")
        if not 1 <= self.frames_per_press <= 120:
            raise DatasetError(f"frames_per_press = {self.frames_per_press} is outside [1, 120]")
        if "," in self.label or self.label != self.label.strip():
            raise DatasetError(f"label {self.label!r}: a class name has no commas and no surrounding spaces")


def pick_frames(frames: Sequence[StampedImage], count: int) -> list[StampedImage]:
    """``count`` frames evenly spread over a window, the middle one for a single frame."""
    if len(frames) <= count:
        return list(frames)
    positions = (np.arange(count) + 0.5) * len(frames) / count
    return [frames[int(p)] for p in positions]


def _usable_cycles(bag: Path, label: str) -> list[RecordedCycle]:
    cycles = read_cycles(bag)
    done = [c for c in cycles if c.outcome == "done"]
    if len(done) < len(cycles):
        log.warning("%s: %d of %d cycles ended in a fault and are left out", bag.name, len(cycles) - len(done),
                    len(cycles))
    if not any(c.frames for c in done):
        raise DatasetError(f"bag {bag} holds no frames in any completed press's hold window: was the camera "
                           "streaming while it recorded (digit/image_raw), and did the presses complete?")
    for cycle in done:
        if cycle.reference is None:
            raise DatasetError(f"bag {bag}, cycle {cycle.cycle} has no no-contact reference frame: the recorder "
                               "takes it from the frames after `approaching`; record again with the camera streaming "
                               "before the cycle starts")
        if not (label or cycle.label):
            raise DatasetError(f"bag {bag}, cycle {cycle.cycle} (target {cycle.target or 'unknown'}) has no label: "
                               "give one with --label, or record with the recorder's label set or a scene file "
                               "that places the pressed object")
    return [c for c in done if c.frames]


def build_dataset(config: BagDatasetConfig, library: MaterialLibrary | None = None) -> Path:
    """Write the data set; returns the CSV's path."""
    from tqdm import tqdm

    library = library or default_library()
    out = Path(config.out)
    csv_path = out / CSV_NAME
    if csv_path.exists():
        raise DatasetError(f"{csv_path} exists already; choose an empty --out folder")
    bags = [Path(b) for b in config.bags]
    names = [b.name or b.resolve().name for b in bags]
    if len(set(names)) != len(names):
        raise DatasetError(f"bags with the same name {names}: rename them, their name is the rows' `dataset`")
    per_bag = [(bag, name, _usable_cycles(bag, config.label)) for bag, name in zip(bags, names, strict=True)]
    sizes: dict[tuple[int, ...], str] = {}
    for bag, _, cycles in per_bag:
        for cycle in cycles:
            for image in [cycle.reference, *cycle.frames]:
                assert image is not None
                sizes.setdefault(image.image.shape, f"{bag.name} cycle {cycle.cycle}")
    if len(sizes) > 1:
        shown = "; ".join(f"{s[1]}x{s[0]} px first in {where}" for s, where in sizes.items())
        raise DatasetError(f"frames of different sizes ({shown}): a data set comes from one sensor at one "
                           "resolution; build one data set per sensor setting")
    rng = np.random.default_rng(config.seed)
    rows: list[list[str]] = []
    presses: Counter[str] = Counter()
    serials = sorted({c.sensor_serial for _, _, cycles in per_bag for c in cycles if c.sensor_serial})
    jobs = [(name, c) for _, name, cycles in per_bag for c in cycles]
    for name, cycle in tqdm(jobs, desc="writing cycles", unit="cycle"):
        label = config.label or cycle.label
        background = f"background/{name}_c{cycle.cycle:04d}.png"
        _write_png(out / background, cycle.reference.image if cycle.reference is not None else None)
        material = library.materials.get(label)
        for press, frames in enumerate(cycle.frames_by_press()):
            if not frames:
                continue
            presses[label] += 1
            for k, frame in enumerate(pick_frames(frames, config.frames_per_press)):
                sample_id = f"{name}_c{cycle.cycle:04d}_p{press}_f{k}"
                tactile = f"tactile/{label}/{sample_id}.png"
                _write_png(out / tactile, frame.image)
                caption = sample_caption(material, rng) if material is not None else ""
                rows.append([sample_id, name, tactile, "", caption, label, background])
    with open(csv_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*TVL_COLUMNS, BACKGROUND_COLUMN])
        writer.writerows(rows)
    meta = {"sensor_serial": serials[0] if len(serials) == 1 else None, "sensor_serials": serials, "bags": names,
            "cycles": len(jobs), "rows": len(rows), "frames_per_press": config.frames_per_press,
            "presses": dict(sorted(presses.items())),
            "frame_size": next(([s[1], s[0]] for s in sizes), None)}
    (out / META_NAME).write_text(json.dumps(meta, indent=1) + "\n")
    log.info("wrote %d rows (%s) from %d cycles of %d bag(s) to %s", len(rows),
             ", ".join(f"{k}: {v} presses" for k, v in sorted(presses.items())), len(jobs), len(bags), csv_path)
    return csv_path


def _write_png(path: Path, image: np.ndarray | None) -> None:
    if image is None:
        raise DatasetError(f"no image for {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise DatasetError(f"cannot write {path}: is the --out folder writable?")
