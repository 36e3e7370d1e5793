"""Pictures of a classification: the tactile frame with its label and top-k probability bars.

The classifier node publishes :func:`draw_overlay` on ``material_classifier/overlay`` and
the demo report saves it; :func:`class_colour` gives each class one colour, shared by the
bars, the rviz markers and the report.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence

import cv2
import numpy as np

PANEL_WIDTH_PX = 280
UNKNOWN_RGB = (0.6, 0.6, 0.6)


def class_colour(index: int, count: int) -> tuple[float, float, float]:
    """RGB in [0, 1] for class ``index`` of ``count``: hues spread evenly around the wheel."""
    hue = (index * 0.618033988749895) % 1.0 if count > 12 else index / max(count, 1)
    return colorsys.hsv_to_rgb(hue, 0.75, 0.95)


def label_colour(label: str, class_names: Sequence[str]) -> tuple[float, float, float]:
    """RGB in [0, 1] of a label (grey for ``unknown`` or any name not in ``class_names``)."""
    if label not in class_names:
        return UNKNOWN_RGB
    return class_colour(list(class_names).index(label), len(class_names))


def _bgr255(rgb: tuple[float, float, float]) -> tuple[int, int, int]:
    return int(rgb[2] * 255), int(rgb[1] * 255), int(rgb[0] * 255)


def draw_overlay(
    frame: np.ndarray,
    class_names: Sequence[str],
    probabilities: np.ndarray | None,
    label: str,
    top_k: int = 5,
    reason: str = "",
) -> np.ndarray:
    """A BGR picture: ``frame`` on the left, on the right the label (and why it is not a material, if it is
    not) and the ``top_k`` classes as bars (none for ``no_contact``, which has no probabilities)."""
    height = max(frame.shape[0], 60 + 34 * top_k)
    canvas = np.full((height, frame.shape[1] + PANEL_WIDTH_PX, 3), 32, dtype=np.uint8)
    canvas[: frame.shape[0], : frame.shape[1]] = frame
    x0 = frame.shape[1] + 12
    font = cv2.FONT_HERSHEY_SIMPLEX
    colour = _bgr255(label_colour(label, class_names))
    cv2.putText(canvas, label, (x0, 36), font, 0.9, colour, 2, cv2.LINE_AA)
    if reason and reason != label:
        cv2.putText(canvas, reason.replace("_", " "), (x0, 52), font, 0.45, colour, 1, cv2.LINE_AA)
    if probabilities is None:
        return canvas
    bar_width = PANEL_WIDTH_PX - 24
    for rank, index in enumerate(np.argsort(probabilities)[::-1][:top_k]):
        y = 64 + 34 * rank
        p = float(probabilities[index])
        cv2.putText(canvas, f"{class_names[index]} {100 * p:.1f}%", (x0, y + 12), font, 0.45, (230, 230, 230), 1,
                    cv2.LINE_AA)
        cv2.rectangle(canvas, (x0, y + 16), (x0 + bar_width, y + 26), (70, 70, 70), -1)
        bar_colour = _bgr255(class_colour(int(index), len(class_names)))
        cv2.rectangle(canvas, (x0, y + 16), (x0 + int(round(bar_width * p)), y + 26), bar_colour, -1)
    return canvas

