"""Speed of the simulated DIGIT: milliseconds per rendered frame. Writes bench/results/renderer.json.

    .venv/bin/python bench/bench_renderer.py [--frames 200]

Cases: every material pressed by a sphere, a cylinder and a flat face at 24 N with a random
tool angle and offset (QVGA and VGA), a no-contact frame, and the one-off cost of a
material's texture tile (made on first use, then cached). Also one QVGA frame's Gaussian
noise by the renderer's sampler (sim/sensor_noise.py) against NumPy's ``standard_normal``,
alternating frame by frame. The machine is shared, so the
table reports the median and the 95th percentile.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from measurement import RESULTS_DIR, command_line, machine, write_results

from tactile_material_ros.sim.contact_model import Cylinder, Flat, Sphere
from tactile_material_ros.sim.digit_renderer import DigitRenderer
from tactile_material_ros.sim.sensor_noise import standard_normal
from tactile_material_ros.sim.textures import clear_tile_cache, texture_tile

RESULTS = RESULTS_DIR / "renderer.json"
TARGET_MS = 15.0
SHAPES = {"sphere 35 mm": Sphere(0.035), "sphere 8 mm": Sphere(0.008), "cylinder": Cylinder(0.006, 0.05),
          "flat": Flat()}


def _percentiles(samples_ms: list[float]) -> dict[str, float]:
    a = np.asarray(samples_ms)
    return {"median": float(np.median(a)), "p95": float(np.percentile(a, 95)), "frames": int(a.size)}


def _render_times(renderer: DigitRenderer, frames: int, shape_name: str | None) -> list[float]:
    rng = np.random.default_rng(0)
    names = renderer.library.names
    for name in names:  # tiles are cached per material: build them before timing
        texture_tile(renderer.library.get(name).texture)
    out = []
    for i in range(frames):
        if shape_name is None:
            t0 = time.perf_counter()
            renderer.no_contact(rng)
        else:
            t0 = time.perf_counter()
            renderer.render(names[i % len(names)], SHAPES[shape_name], 24.0, float(rng.uniform(0, np.pi)),
                            (float(rng.uniform(-3e-3, 3e-3)), float(rng.uniform(-3e-3, 3e-3))), rng)
        out.append(1e3 * (time.perf_counter() - t0))
    return out


def _noise_times(shape_hw: tuple[int, int], frames: int) -> dict[str, list[float]]:
    """Milliseconds per frame of noise, the two samplers alternating (the same load for both)."""
    rng = np.random.default_rng(0)
    shape = (*shape_hw, 3)
    samplers = {"noise, quantile table (renderer)": lambda: standard_normal(rng, shape),
                "noise, numpy standard_normal": lambda: rng.standard_normal(shape, dtype=np.float32)}
    out: dict[str, list[float]] = {name: [] for name in samplers}
    for _ in range(frames):
        for name, draw in samplers.items():
            t0 = time.perf_counter()
            draw()
            out[name].append(1e3 * (time.perf_counter() - t0))
    return out


def _tile_times(renderer: DigitRenderer) -> dict[str, float]:
    clear_tile_cache()
    out = {}
    for name in renderer.library.names:
        t0 = time.perf_counter()
        texture_tile(renderer.library.get(name).texture)
        out[name] = 1e3 * (time.perf_counter() - t0)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200, help="frames per case")
    args = parser.parse_args(argv)
    qvga, vga = DigitRenderer(resolution="QVGA"), DigitRenderer(resolution="VGA")
    tiles = _tile_times(qvga)
    cases = {f"QVGA {shape}": _percentiles(_render_times(qvga, args.frames, shape)) for shape in SHAPES}
    cases["QVGA no contact"] = _percentiles(_render_times(qvga, args.frames, None))
    cases["VGA sphere 35 mm"] = _percentiles(_render_times(vga, max(20, args.frames // 4), "sphere 35 mm"))
    cases.update({f"QVGA {name}": _percentiles(times) for name, times in _noise_times(qvga.shape_hw, args.frames).items()})
    result = {
        "target_ms_per_qvga_frame": TARGET_MS,
        "cases_ms": cases,
        "texture_tile_ms": {"median": float(np.median(list(tiles.values()))), "max": max(tiles.values()),
                            "per_material": tiles},
        "machine": machine(),
        "command": command_line(),
    }
    write_results("renderer", result)
    print(f"{'case':40s} {'median ms':>10s} {'p95 ms':>8s}")
    for name, stats in cases.items():
        print(f"{name:40s} {stats['median']:10.2f} {stats['p95']:8.2f}")
    print(f"{'texture tile (once)':40s} {result['texture_tile_ms']['median']:10.1f} {result['texture_tile_ms']['max']:8.1f} (max)")
    print(f"target: < {TARGET_MS:.0f} ms per QVGA frame; results in {RESULTS}")
    worst = max(stats["median"] for name, stats in cases.items() if name.startswith("QVGA") and "noise" not in name)
    return 0 if worst < TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
