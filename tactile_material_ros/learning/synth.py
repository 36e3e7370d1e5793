"""Synthetic tactile data in the TVL CSV layout, rendered by the simulated DIGIT.

Each press draws an object shape (spheres of several radii, a lying cylinder, a flat face),
a force around the 24 N target, a tool angle in [0, pi] (0 and pi/2, the palpation routine's
two presses, each get a fixed share), a contact offset, and one of ``sensors`` simulated
sensors; a sensor is a background seed, a noise level and a variation (contact strength, LEDs,
camera, the gel's dome: ``sim/sensor_variation.py``), and its no-contact frame is written
once as the reference of every press it took (the ``background`` column). Captions are drawn
from the material's real TVL term statistics (:func:`sim.descriptions.sample_caption`).
Everything derives from ``seed``: the same seed gives the same files, another seed gives
unseen sensors and presses.

Layout written under ``out``::

    tvl.csv                     sample_id,dataset,tactile,vision,caption,class,background
    classes.txt                 class order (library order)
    synth.json                  the generator's parameters
    tactile/<class>/<id>.png    contact frames (portrait 240x320 BGR)
    background/sensor_<k>.png   each sensor's no-contact frame
The ``vision`` column is empty: the simulation has no camera image.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import multiprocessing
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from tactile_material_ros.sim.contact_model import Cylinder, Flat, Shape, Sphere
from tactile_material_ros.sim.descriptions import sample_caption
from tactile_material_ros.sim.materials import default_library
from tactile_material_ros.sim.sensor_variation import SensorVariation, draw_variation

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SynthConfig:
    """What to render. All randomness derives from ``seed``."""

    per_class: int = field(default=300, metadata={"help": "presses per material"})
    seed: int = field(default=0, metadata={"help": "seed of sensors, presses and captions; use a new one for a test set"})
    materials: tuple[str, ...] = field(default=(), metadata={"help": "materials to render (default: the whole library)"})
    sensors: int = field(default=12, metadata={"help": "simulated sensors (background seed + noise level each)"})
    force_mean_n: float = field(default=24.0, metadata={"help": "mean press force [N]"})
    force_std_n: float = field(default=3.0, metadata={"help": "press force standard deviation [N]"})
    offset_max_m: float = field(default=0.003, metadata={"help": "largest contact offset from the gel centre per axis [m]"})
    noise_sigma_range: tuple[float, float] = field(default=(1.5, 6.0), metadata={"help": "sensor noise sigma range [grey levels]"})
    workers: int = field(default=0, metadata={"help": "render processes (0: one per core, at most 2)"})
    vary_sensors: bool = field(default=True, metadata={"help": "draw each sensor's contact strength, LED hue, gain, blur, gradient and extra noise (sim/sensor_variation.py)"})

    def __post_init__(self) -> None:
        if self.per_class < 1:
            raise ValueError(f"per_class must be >= 1, got {self.per_class}")
        if self.sensors < 1:
            raise ValueError(f"sensors must be >= 1, got {self.sensors}")
        if not 0 < self.force_mean_n <= 60:
            raise ValueError(f"force_mean_n must be in (0, 60] N, got {self.force_mean_n}")
        lo, hi = self.noise_sigma_range
        if not 0 <= lo <= hi:
            raise ValueError(f"noise_sigma_range must be 0 <= low <= high, got {self.noise_sigma_range}")
        unknown = set(self.materials) - set(default_library().names)
        if unknown:
            raise ValueError(f"unknown material(s) {sorted(unknown)}; known: {', '.join(default_library().names)}")


@dataclass(frozen=True)
class Press:
    """One synthetic press: everything the renderer needs, plus the row's bookkeeping."""

    sample_id: str
    material: str
    shape: Shape
    force_n: float
    tool_angle_rad: float
    offset_m: tuple[float, float]
    sensor: int
    render_seed: int
    caption: str


def sensor_params(config: SynthConfig, sensor: int) -> tuple[int, float]:
    """(background seed, noise sigma) of a sensor; seeds of different synth seeds never collide."""
    rng = np.random.default_rng([config.seed, 1_000_003, sensor])
    lo, hi = config.noise_sigma_range
    return int(config.seed * 10_007 + sensor), float(rng.uniform(lo, hi))


def sensor_variation(config: SynthConfig, sensor: int) -> SensorVariation:
    """The drawn variation of a sensor (the nominal sensor with ``vary_sensors`` off), with its noise."""
    noise = sensor_params(config, sensor)[1]
    if not config.vary_sensors:
        return SensorVariation(noise_sigma=noise)
    return replace(draw_variation(np.random.default_rng([config.seed, 2_000_003, sensor])), noise_sigma=noise)


def _draw_shape(rng: np.random.Generator) -> Shape:
    kind = rng.random()
    if kind < 0.55:
        return Sphere(float(rng.choice([0.008, 0.0125, 0.02, 0.03, 0.04])))
    if kind < 0.8:
        return Cylinder(float(rng.uniform(0.004, 0.02)), float(rng.uniform(0.02, 0.1)))
    return Flat()


def _draw_angle(rng: np.random.Generator) -> float:
    u = rng.random()
    if u < 0.2:
        return 0.0
    if u < 0.4:
        return math.pi / 2
    return float(rng.uniform(0.0, math.pi))


def plan_presses(config: SynthConfig) -> list[Press]:
    """Every press of the data set, deterministic in ``config.seed``."""
    library = default_library()
    names = [n for n in library.names if n in config.materials] if config.materials else library.names  # library order
    presses = []
    for m, name in enumerate(names):
        material = library.get(name)
        for i in range(config.per_class):
            rng = np.random.default_rng([config.seed, m, i])
            force = float(np.clip(rng.normal(config.force_mean_n, config.force_std_n),
                                  0.5 * config.force_mean_n, 1.5 * config.force_mean_n))
            presses.append(Press(
                sample_id=f"s{config.seed}-{name}-{i:05d}", material=name, shape=_draw_shape(rng), force_n=force,
                tool_angle_rad=_draw_angle(rng),
                offset_m=(float(rng.uniform(-1, 1) * config.offset_max_m), float(rng.uniform(-1, 1) * config.offset_max_m)),
                sensor=int(rng.integers(config.sensors)), render_seed=int(rng.integers(2**31)),
                caption=sample_caption(material, rng),
            ))
    return presses


@lru_cache(maxsize=64)
def _renderer(background_seed: int, noise_sigma: float, dome_radius_m: float):  # -> DigitRenderer (imported lazily: heavy)
    from tactile_material_ros.sim.digit_renderer import DigitRenderer

    return DigitRenderer(background_seed=background_seed, noise_sigma=noise_sigma, dome_radius_m=dome_radius_m)


def _noiseless_renderer(background_seed: int, variation: SensorVariation):  # -> DigitRenderer
    """The sensor's renderer: its gel's dome from ``variation``; its noise comes with the variation."""
    return _renderer(background_seed, 0.0, variation.dome_radius_m)


def _render_press(job: tuple[Press, int, float, SensorVariation, str]) -> str:
    press, background_seed, _, variation, path = job
    renderer = _noiseless_renderer(background_seed, variation)
    rng = np.random.default_rng(press.render_seed)
    frame = renderer.render(press.material, press.shape, press.force_n, tool_angle_rad=press.tool_angle_rad,
                            offset_m=press.offset_m, rng=rng)
    frame = variation.apply(frame, renderer.background(), rng)
    if not cv2.imwrite(path, frame):
        raise OSError(f"cannot write {path}")
    return path


def _shape_text(shape: Shape) -> str:
    if isinstance(shape, Sphere):
        return f"sphere r={shape.radius_m * 1e3:.1f}mm"
    if isinstance(shape, Cylinder):
        return f"cylinder r={shape.radius_m * 1e3:.1f}mm l={shape.length_m * 1e3:.0f}mm"
    return "flat"


def synthesize(config: SynthConfig, out: str | Path) -> Path:
    """Render the data set into ``out``; returns the CSV path."""
    out = Path(out)
    presses = plan_presses(config)
    names = list(dict.fromkeys(p.material for p in presses))
    (out / "background").mkdir(parents=True, exist_ok=True)
    for name in names:
        (out / "tactile" / name).mkdir(parents=True, exist_ok=True)
    sensors = sorted({p.sensor for p in presses})
    for k in sensors:
        seed, _ = sensor_params(config, k)
        variation = sensor_variation(config, k)
        renderer = _noiseless_renderer(seed, variation)
        rng = np.random.default_rng([config.seed, 7, k])
        reference = variation.apply(renderer.no_contact(rng), renderer.background(), rng)
        cv2.imwrite(str(out / "background" / f"sensor_{k:03d}.png"), reference)
    jobs = [(p, *sensor_params(config, p.sensor), sensor_variation(config, p.sensor),
             str(out / "tactile" / p.material / f"{p.sample_id}.png")) for p in presses]
    workers = config.workers or min(2, os.cpu_count() or 1)
    progress = tqdm(total=len(jobs), desc="rendering presses", unit="img")
    if workers > 1:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for _ in pool.imap_unordered(_render_press, jobs, chunksize=8):
                progress.update()
    else:
        for job in jobs:
            _render_press(job)
            progress.update()
    progress.close()
    csv_path = out / "tvl.csv"
    with open(csv_path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["sample_id", "dataset", "tactile", "vision", "caption", "class", "background"])
        for p in presses:
            writer.writerow([p.sample_id, "synth", f"tactile/{p.material}/{p.sample_id}.png", "", p.caption,
                             p.material, f"background/sensor_{p.sensor:03d}.png"])
    (out / "classes.txt").write_text("\n".join(names) + "\n")
    meta = {"config": asdict(config), "samples": len(presses), "classes": names,
            "sensors": {k: {"background_seed": sensor_params(config, k)[0], "noise_sigma": sensor_params(config, k)[1],
                            **sensor_variation(config, k).to_dict()} for k in sensors},
            "presses": {p.sample_id: {"shape": _shape_text(p.shape), "force_n": round(p.force_n, 2),
                                      "tool_angle_deg": round(math.degrees(p.tool_angle_rad), 1),
                                      "offset_mm": [round(v * 1e3, 2) for v in p.offset_m], "sensor": p.sensor}
                        for p in presses}}
    (out / "synth.json").write_text(json.dumps(meta, indent=1) + "\n")
    log.info("wrote %d presses of %d materials from %d sensors to %s", len(presses), len(names), len(sensors), out)
    return csv_path


def materials_arg(value: Sequence[str] | str | None) -> tuple[str, ...]:
    if not value:
        return ()
    items = value.split(",") if isinstance(value, str) else [v for item in value for v in item.split(",")]
    return tuple(v.strip() for v in items if v.strip())
