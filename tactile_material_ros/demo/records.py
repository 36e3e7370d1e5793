"""What the demo saw while palpating one target: the records the report is made from."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tactile_material_ros.inference.press_fusion import UNKNOWN
from tactile_material_ros.inference.recognition import NO_CONTACT


@dataclass
class PressRecord:
    stamp_s: float                 # settle time, from palpation/press
    force_n: float                 # |F| at settle
    frame: np.ndarray | None       # the DIGIT frame captured nearest the middle of the hold window


@dataclass
class TargetRecord:
    target: str
    material: str                  # the scene's ground truth
    label: str | None = None       # material_label, None when none came
    probabilities: np.ndarray | None = None
    cycle_s: float = 0.0           # from the palpate request to the label
    presses: list[PressRecord] = field(default_factory=list)
    force_trace: list[tuple[float, float]] = field(default_factory=list)  # (t - start [s], |F| [N])
    overlay: np.ndarray | None = None
    overlay_stamp_s: float | None = None  # capture time of the newest frame behind the label
    reference: np.ndarray | None = None   # the sensor's no-contact frame, taken while approaching
    states: list[tuple[float, str]] = field(default_factory=list)  # (t - start [s], palpation state)
    error: str = ""
    reason: str = ""               # why the label is not a material (material_result), "" when it is

    @property
    def confidence(self) -> float:
        return float(np.max(self.probabilities)) if self.probabilities is not None else 0.0

    @property
    def labelled(self) -> bool:
        """A material came back (not `unknown` or `no_contact`, not nothing)."""
        return self.label is not None and self.label not in (UNKNOWN, NO_CONTACT)

    @property
    def correct(self) -> bool:
        return self.label == self.material

    def result(self) -> dict[str, object]:
        """The results.json entry."""
        return {"target": self.target, "material": self.material, "label": self.label, "reason": self.reason,
                "confidence": round(self.confidence, 4), "cycle_s": round(self.cycle_s, 2),
                "presses": len(self.presses), "correct": self.correct, "error": self.error}
