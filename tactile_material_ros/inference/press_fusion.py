"""Fusing per-frame class probabilities into one decision, and the `unknown` threshold.

A palpation cycle gives P presses (two in the paper's routine: one press, a 90° tool turn,
a second press); press p gives F_p frames from its hold window, each with class
probabilities p_{p,f,c}. They are fused in log-probability space:

    L_c = (1/P) · Σ_p (1/F_p) · Σ_f log max(p_{p,f,c}, ε)
    P_c = exp(L_c) / Σ_k exp(L_k)

i.e. the mean log-probability over the frames of a press, then over the presses (so each
press weighs the same whatever its frame count), renormalised to sum to 1: a normalised
geometric mean. Unlike averaging probabilities it rewards classes that every frame and both
tool orientations agree on, and a class that one press all but rules out stays unlikely.
ε = 1e-12 keeps one frame's hard zero from vetoing a class outright.

The fused label is the most probable class when its probability reaches the confidence
threshold, otherwise ``unknown``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

UNKNOWN = "unknown"
PROBABILITY_FLOOR = 1e-12


@dataclass(frozen=True)
class Decision:
    label: str                  # a class name, or UNKNOWN below the threshold
    index: int                  # argmax class index (also when the label is UNKNOWN)
    confidence: float           # the fused probability of that class
    probabilities: np.ndarray   # (C,) float64, sums to 1, class order of the model card


def fuse_log_probabilities(groups: Sequence[np.ndarray]) -> np.ndarray:
    """Fused class probabilities (C,) from per-press arrays of frame probabilities (F_p, C).

    See the module docstring for the formula. Raises ValueError on an empty input or on
    groups with different class counts.
    """
    groups = [np.atleast_2d(np.asarray(g, dtype=np.float64)) for g in groups if len(g)]
    if not groups:
        raise ValueError("nothing to fuse: no press contributed a frame")
    classes = {g.shape[1] for g in groups}
    if len(classes) != 1:
        raise ValueError(f"presses disagree on the number of classes: {sorted(classes)}")
    per_press = [np.log(np.maximum(g, PROBABILITY_FLOOR)).mean(axis=0) for g in groups]
    mean_log = np.mean(per_press, axis=0)
    z = np.exp(mean_log - mean_log.max())
    return z / z.sum()


def decide(probabilities: np.ndarray, class_names: Sequence[str], threshold: float) -> Decision:
    """The label for fused ``probabilities``: the argmax class, or UNKNOWN below ``threshold``."""
    if len(probabilities) != len(class_names):
        raise ValueError(f"{len(probabilities)} probabilities for {len(class_names)} class names")
    index = int(np.argmax(probabilities))
    confidence = float(probabilities[index])
    label = class_names[index] if confidence >= threshold else UNKNOWN
    return Decision(label, index, confidence, np.asarray(probabilities, dtype=np.float64))
