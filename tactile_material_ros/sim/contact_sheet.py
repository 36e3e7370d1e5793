"""One labelled picture of every material as the simulated DIGIT sees it, before and after a 90 deg turn.

Each material gets a pair of frames (the palpation routine's two presses: tool at 0 and at
90 deg) under its name; pairs are laid out in a grid.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from tactile_material_ros.sim.contact_model import Shape, Sphere
from tactile_material_ros.sim.digit_renderer import DigitRenderer

LABEL_PX = 26
GAP_PX = 6
PAIRS_PER_ROW = 5
PAPER_BALL = Sphere(0.030)  # the balls of config/scene_four_balls.yaml (the paper's real-world run)


def _label(image: np.ndarray, text: str, origin: tuple[int, int], scale: float, colour: tuple[int, int, int]) -> None:
    for thickness, shade in ((3, (0, 0, 0)), (1, colour)):  # outlined, readable on any background
        cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, shade, thickness, cv2.LINE_AA)


def render_pair(renderer: DigitRenderer, material: str, shape: Shape, force_n: float, seed: int) -> np.ndarray:
    """The two presses of one material, side by side, angles written on them."""
    frames = []
    for angle_deg in (0.0, 90.0):
        frame = renderer.render(material, shape, force_n, math.radians(angle_deg),
                                rng=np.random.default_rng(seed), patch_m=(0.0, 0.0))
        _label(frame, f"{angle_deg:.0f} deg", (6, frame.shape[0] - 8), 0.45, (255, 255, 255))
        frames.append(frame)
    return np.hstack([frames[0], np.full((frames[0].shape[0], 2, 3), 255, np.uint8), frames[1]])


def contact_sheet(
    renderer: DigitRenderer,
    materials: list[str] | None = None,
    shape: Shape = PAPER_BALL,
    force_n: float = 24.0,
    seed: int = 0,
) -> np.ndarray:
    """Every material (default: the renderer's library) pressed at ``force_n``, at 0 and 90 deg, labelled."""
    names = materials or renderer.library.names
    pairs = [render_pair(renderer, name, shape, force_n, seed) for name in names]
    ph, pw = pairs[0].shape[:2]
    cell_h, cell_w = ph + LABEL_PX, pw + GAP_PX
    rows = math.ceil(len(pairs) / PAIRS_PER_ROW)
    sheet = np.full((rows * cell_h + GAP_PX, PAIRS_PER_ROW * cell_w + GAP_PX, 3), 255, np.uint8)
    for i, (name, pair) in enumerate(zip(names, pairs, strict=True)):
        r, c = divmod(i, PAIRS_PER_ROW)
        y, x = r * cell_h + LABEL_PX, c * cell_w + GAP_PX
        sheet[y:y + ph, x:x + pw] = pair
        kind = renderer.library.get(name).texture.kind.replace("_", " ")
        cv2.putText(sheet, f"{name}  ({kind})", (x + 2, y - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    return sheet
