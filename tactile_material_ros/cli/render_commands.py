"""`tactile-material render` and `tactile-material contact-sheet`: frames of the simulated DIGIT.

    tactile-material render --material wood --force 24 --rotation 90 --out wood.png
    tactile-material render --material towel --force 10 --rotation 0 --shape flat --out towel.png
    tactile-material contact-sheet --scale 0.5 --out docs/materials.png
"""

from __future__ import annotations

import argparse
import logging
import math
from pathlib import Path

import cv2
import numpy as np

from tactile_material_ros.sim.contact_model import DIGIT_DOME_RADIUS_M, Cylinder, Flat, Shape, Sphere
from tactile_material_ros.sim.contact_sheet import PAPER_BALL, contact_sheet
from tactile_material_ros.sim.digit_renderer import DEFAULT_NOISE_SIGMA, RESOLUTIONS, DigitRenderer
from tactile_material_ros.sim.materials import default_library

log = logging.getLogger(__name__)


def _shape(args: argparse.Namespace) -> Shape:
    if args.shape == "sphere":
        return Sphere(args.radius)
    if args.shape == "cylinder":
        return Cylinder(args.radius, args.length)
    return Flat()


def _write(image: np.ndarray, out: str) -> int:
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        log.error("cannot write %s: use an image suffix (.png) in a writable folder", path)
        return 1
    log.info("wrote %s (%dx%d)", path, image.shape[1], image.shape[0])
    return 0


def _renderer(args: argparse.Namespace) -> DigitRenderer:
    return DigitRenderer(resolution=args.resolution, background_seed=args.background_seed, noise_sigma=args.noise,
                         dome_radius_m=args.dome_radius)


def render(args: argparse.Namespace) -> int:
    try:
        shape = _shape(args)
        renderer = _renderer(args)
        renderer.library.get(args.material)
        frame = renderer.render(args.material, shape, args.force, math.radians(args.rotation),
                                offset_m=(args.offset[0], args.offset[1]), rng=np.random.default_rng(args.seed))
    except (KeyError, ValueError) as exc:
        log.error("%s", exc.args[0] if exc.args else exc)
        return 2
    return _write(frame, args.out)


def sheet(args: argparse.Namespace) -> int:
    try:
        shape = _shape(args)
        if not 0.1 <= args.scale <= 1.0:
            raise ValueError(f"--scale {args.scale} is outside [0.1, 1.0]")
        image = contact_sheet(_renderer(args), shape=shape, force_n=args.force, seed=args.seed)
        if args.scale < 1.0:
            image = cv2.resize(image, None, fx=args.scale, fy=args.scale, interpolation=cv2.INTER_AREA)
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    return _write(image, args.out)


def _common(p: argparse.ArgumentParser, force: float | None) -> None:
    p.add_argument("--force", type=float, default=force, required=force is None, help="press force [N]")
    p.add_argument("--shape", choices=("sphere", "cylinder", "flat"), default="sphere",
                   help="object under the gel (default sphere)")
    p.add_argument("--radius", type=float, default=PAPER_BALL.radius_m,
                   help=f"sphere / cylinder radius [m] (default {PAPER_BALL.radius_m}, the four-ball scene's balls)")
    p.add_argument("--length", type=float, default=0.05, help="cylinder length [m]")
    p.add_argument("--resolution", choices=tuple(RESOLUTIONS), default="QVGA", help="DIGIT stream (default QVGA)")
    p.add_argument("--background-seed", type=int, default=0, help="which simulated sensor (LED background)")
    p.add_argument("--noise", type=float, default=DEFAULT_NOISE_SIGMA, help="sensor noise sigma [grey levels]")
    p.add_argument("--dome-radius", type=float, default=DIGIT_DOME_RADIUS_M,
                   help=f"radius of curvature of the gel's dome [m] (default {DIGIT_DOME_RADIUS_M}; inf: a flat gel)")
    p.add_argument("--seed", type=int, default=0, help="seed of the noise (and of the texture patch for render)")
    p.add_argument("--out", required=True, help="image file to write (.png)")


def register(subparsers: argparse._SubParsersAction) -> None:
    names = ", ".join(default_library().names)
    p = subparsers.add_parser("render", help="render one simulated DIGIT frame of a material pressed by a shape",
                              description=f"Materials: {names}.")
    p.add_argument("--material", required=True, help="material name (see the list above)")
    p.add_argument("--rotation", type=float, default=0.0, help="tool rotation about its axis [deg]")
    p.add_argument("--offset", type=float, nargs=2, default=(0.0, 0.0), metavar=("X", "Y"),
                   help="contact centre relative to the gel centre, tool x / y [m]")
    _common(p, None)
    p.set_defaults(func=render)

    s = subparsers.add_parser("contact-sheet", help="every material at 24 N, tool at 0 and 90 deg, in one "
                              "labelled picture")
    _common(s, 24.0)
    s.add_argument("--scale", type=float, default=1.0, help="shrink the picture by this factor (0.1-1; docs/materials.png uses 0.5)")
    s.set_defaults(func=sheet)
