"""One published result as key/value pairs: what ties a label to its probabilities, reason, cycle and target.

The classifier node publishes these as a stamped ``diagnostic_msgs/DiagnosticArray`` on
``material_report`` (one ``DiagnosticStatus``: message = the label, hardware_id = the model's sha256,
values = the pairs below), and reads the palpation node's ``palpation/cycle`` (the same message
type: cycle id and target) with :func:`cycle_from_values`. Standard messages only, so any ROS 2
client reads them; where ``vision_msgs`` is installed the node also publishes
``vision_msgs/Classification`` from :func:`hypotheses`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tactile_material_ros.inference.live_classifier import Classification

PROBABILITY_PREFIX = "p/"   # value keys of the per-class probabilities, in the card's class order
OK, WARN = 0, 1             # DiagnosticStatus levels: a material / unknown or no_contact


@dataclass(frozen=True)
class CycleInfo:
    """The palpation cycle a result belongs to (``palpation/cycle``)."""

    cycle_id: int
    target: str

    def __post_init__(self) -> None:
        if self.cycle_id < 1:
            raise ValueError(f"cycle_id = {self.cycle_id} must be 1 or more (cycles are counted from 1)")

    def values(self) -> list[tuple[str, str]]:
        return [("cycle_id", str(self.cycle_id)), ("target", self.target)]


def cycle_from_values(values: Mapping[str, str]) -> CycleInfo:
    """``palpation/cycle``'s key/values -> CycleInfo; ValueError naming what is missing or malformed."""
    try:
        return CycleInfo(int(values["cycle_id"]), str(values.get("target", "")))
    except KeyError:
        raise ValueError(f"palpation/cycle without cycle_id: keys {sorted(values)}") from None
    except ValueError as exc:
        raise ValueError(f"palpation/cycle: {exc}") from None


def result_level(result: Classification) -> int:
    """OK for a material, WARN for ``unknown`` and ``no_contact`` (a client filters on it)."""
    return WARN if result.reason else OK


def result_values(result: Classification, class_names: Sequence[str], cycle: CycleInfo | None) -> list[tuple[str, str]]:
    """The result's key/values: label, reason, confidence, cycle_id and target ("" outside a palpation
    cycle), presses, frames, familiarity, position, frame_id, then ``p/<class>`` in the card's order
    (none for no_contact)."""
    position = "" if result.position_m is None else " ".join(f"{v:.4f}" for v in result.position_m)
    values = [
        ("label", result.label), ("reason", result.reason), ("confidence", f"{result.confidence:.6f}"),
        *(cycle.values() if cycle is not None else [("cycle_id", ""), ("target", "")]),
        ("presses", str(result.presses)), ("frames", str(result.frames)),
        ("familiarity", "" if result.familiarity is None else f"{result.familiarity:.4f}"),
        ("position", position), ("frame_id", result.frame_id),
    ]
    if result.probabilities is not None:
        values += [(f"{PROBABILITY_PREFIX}{name}", f"{float(p):.6f}")
                   for name, p in zip(class_names, result.probabilities, strict=True)]
    return values


def hypotheses(result: Classification, class_names: Sequence[str]) -> list[tuple[str, float]]:
    """(class_id, score) of every class, best first, as ``vision_msgs/ObjectHypothesis`` wants them;
    empty for no_contact (no material probabilities)."""
    if result.probabilities is None:
        return []
    pairs = [(name, float(p)) for name, p in zip(class_names, result.probabilities, strict=True)]
    return sorted(pairs, key=lambda pair: -pair[1])
