"""Presses of distinct simulated objects by one sensor of a family the bundled model never saw.

`enrol` is meant for a user's own sensor and objects; its figures here are measured on a
simulated stand-in for that situation (docs/training.md, "Teach your own materials"):

- **another sensor family**: frames 320x240 landscape (a GelSight Mini's layout, not the
  DIGIT's portrait), the LEDs' colours in another order (the red, green and blue lights at
  other places round the gel), a contact strength outside the range the model was trained on,
  camera blur, stronger noise, and JPEG compression of every frame (a GelSight Mini and a
  DIGIT stream MJPEG; the training frames are lossless);
- **objects**: each material has several objects that differ in shape and size (spheres and
  cylinders of their own radius, flat faces), each pressed several times at other spots, forces
  and turns; so "other presses of an enrolled object" and "objects not enrolled" can be tested
  apart.

Written in the TVL CSV layout (``sample_id`` = ``<object>-p<k>``, ``dataset`` = the object's
name), with the sensor's no-contact frame as every row's background, and ``objects.json``
listing every object's material, shape and presses.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from tactile_material_ros.sim.contact_model import Cylinder, Flat, Shape, Sphere
from tactile_material_ros.sim.materials import default_library
from tactile_material_ros.sim.sensor_variation import NOMINAL_STRENGTH, SensorVariation

# the eight everyday materials of the real set the issue describes (GelSight Mini, 62 objects)
EVERYDAY_MATERIALS = ("plastic", "metal", "fabric", "wood", "paper", "stone", "rubber", "leather")
LED_ORDER = (1, 2, 0)   # output B, G, R taken from the rendered G, R, B: the LEDs sit elsewhere


@dataclass(frozen=True)
class ObjectPressConfig:
    materials: tuple[str, ...] = field(default=EVERYDAY_MATERIALS, metadata={"help": "materials, one class each"})
    objects_per_material: int = field(default=8, metadata={"help": "distinct objects of each material"})
    presses_per_object: int = field(default=4, metadata={"help": "presses of each object"})
    seed: int = field(default=0, metadata={"help": "seed of the objects, the presses and the sensor"})
    strength: float = field(default=1.9 * NOMINAL_STRENGTH, metadata={"help": "contact strength (training: 0.35-0.95)"})
    noise_sigma: float = field(default=5.0, metadata={"help": "camera noise [grey levels]"})
    blur_px: float = field(default=1.6, metadata={"help": "camera blur sigma [px] (training: at most 1.2)"})
    jpeg_quality: int = field(default=75, metadata={"help": "JPEG quality every frame goes through (0: lossless)"})

    def __post_init__(self) -> None:
        unknown = set(self.materials) - set(default_library().names)
        if unknown or len(self.materials) < 2:
            raise ValueError(f"materials {list(self.materials)}: give >= 2 of {', '.join(default_library().names)}")
        if self.objects_per_material < 1 or self.presses_per_object < 1:
            raise ValueError("objects_per_material and presses_per_object must be >= 1")
        if not 0 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality {self.jpeg_quality} is outside [0, 100]")


def _object_shape(rng: np.random.Generator) -> Shape:
    kind = rng.random()
    if kind < 0.45:
        return Sphere(float(np.exp(rng.uniform(np.log(0.006), np.log(0.05)))))
    if kind < 0.8:
        return Cylinder(float(np.exp(rng.uniform(np.log(0.004), np.log(0.03)))), float(rng.uniform(0.03, 0.1)))
    return Flat()


def _landscape(frame: np.ndarray, quality: int) -> np.ndarray:
    frame = np.ascontiguousarray(frame.transpose(1, 0, 2)[:, :, list(LED_ORDER)])
    if quality:
        ok, buffer = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
        frame = cv2.imdecode(buffer, cv2.IMREAD_COLOR) if ok else frame
    return frame


def write_object_presses(config: ObjectPressConfig, out: str | Path, progress: bool = True) -> Path:
    """Render every press into ``out`` (tvl.csv, classes.txt, objects.json, frames); returns the CSV path."""
    from tactile_material_ros.sim.digit_renderer import DigitRenderer

    out = Path(out)
    (out / "tactile").mkdir(parents=True, exist_ok=True)
    renderer = DigitRenderer(background_seed=900_000 + config.seed, noise_sigma=0.0)
    camera = SensorVariation(strength=config.strength, led_gain=(1.1, 0.9, 1.05), camera_gain=1.05,
                             blur_px=config.blur_px, gradient=(8.0, -5.0), noise_sigma=config.noise_sigma)
    rng = np.random.default_rng([config.seed, 31])
    background = renderer.background()
    cv2.imwrite(str(out / "background.png"), _landscape(camera.apply(background, background, rng), 0))
    rows, objects = [], {}
    jobs = [(m, o) for m in config.materials for o in range(config.objects_per_material)]
    for material, o in tqdm(jobs, desc="rendering objects", unit="object", disable=not progress):
        orng = np.random.default_rng([config.seed, config.materials.index(material), o])
        shape, yaw = _object_shape(orng), float(orng.uniform(0, math.pi))
        patch = (float(orng.uniform(-0.01, 0.01)), float(orng.uniform(-0.01, 0.01)))
        name = f"{material}_{o:02d}"
        objects[name] = {"material": material, "shape": asdict(shape) | {"kind": type(shape).__name__}, "presses": []}
        for k in range(config.presses_per_object):
            force = float(np.clip(orng.normal(15.0, 5.0), 4.0, 30.0))
            angle = yaw + float(orng.normal(0.0, math.radians(20)))
            offset = (float(orng.uniform(-0.003, 0.003)), float(orng.uniform(-0.003, 0.003)))
            spot = (patch[0] + float(orng.normal(0, 0.002)), patch[1] + float(orng.normal(0, 0.002)))
            frame = renderer.render(material, shape, force, tool_angle_rad=angle, offset_m=offset, rng=orng,
                                    patch_m=spot)
            frame = _landscape(camera.apply(frame, background, orng), config.jpeg_quality)
            rel = f"tactile/{name}-p{k}.png"
            cv2.imwrite(str(out / rel), frame)
            rows.append([f"{name}-p{k}", name, rel, "", "", material, "background.png"])
            objects[name]["presses"].append({"force_n": round(force, 2), "angle_deg": round(math.degrees(angle), 1)})
    csv_path = out / "tvl.csv"
    with open(csv_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["sample_id", "dataset", "tactile", "vision", "caption", "class", "background"])
        writer.writerows(rows)
    (out / "classes.txt").write_text("\n".join(config.materials) + "\n")
    (out / "objects.json").write_text(json.dumps({"config": asdict(config), "objects": objects}, indent=1) + "\n")
    return csv_path
