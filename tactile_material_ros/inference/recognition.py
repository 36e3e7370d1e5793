"""Three answers, not one: a material, `unknown` (with a reason) or `no_contact`.

Every path that classifies (``tactile-material classify`` and ``evaluate``, the classifier
node's three triggers) goes through :class:`Recognizer`:

1. **contact**: each frame is scored against the sensor's no-contact reference
   (:mod:`contact_detection`); a frame below the contact detector's ``exit_score`` (0.04 of the
   sensor's brightness by default: the level at which a touch is over) shows no contact and is
   never given to the model. A model enrolled on presses fainter than that (learning/enrol.py)
   carries a gate of its own in its card (``contact.gate``), used in place of the default gate
   (thresholds set by hand win). (Simulated no-contact frames score at most 0.015 against their
   reference, a real DIGIT background with σ 7 noise added 0.017; the faintest simulated
   presses, smooth flat faces of soft silicone on the domed gel, 0.05 and up.)
2. **the model**: the frames with contact are classified; their probabilities are fused
   (:mod:`press_fusion`: mean log-probability per press, then over the presses).
3. **familiarity** (:mod:`familiarity`): each classified frame's features and contact
   signature are compared with the training frames of the class the model predicts; the
   result's familiarity ratio is the median over its frames. Above 1 the result is
   ``unknown`` with the reason ``unfamiliar_input`` — the model is not asked to be right
   about input unlike anything it learnt from, however confident it is.
4. **confidence**: below ``confidence_threshold`` the result is ``unknown`` with the reason
   ``low_confidence``.

The probabilities of an ``unknown`` result are still given (they say what the model
leaned to); a ``no_contact`` result has none.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from tactile_material_ros.inference.contact_detection import ContactConfig, contact_score
from tactile_material_ros.inference.contact_signature import contact_signature
from tactile_material_ros.inference.onnx_classifier import OnnxClassifier, softmax
from tactile_material_ros.inference.preprocessing import FrameError, preprocess
from tactile_material_ros.inference.press_fusion import UNKNOWN, fuse_log_probabilities

NO_CONTACT = "no_contact"


class Reason(StrEnum):
    """Why a result is not a material."""

    LOW_CONFIDENCE = "low_confidence"
    UNFAMILIAR_INPUT = "unfamiliar_input"
    NO_CONTACT = "no_contact"


@dataclass(frozen=True)
class FrameAssessment:
    """One frame: its contact score and, when it shows contact, what the model made of it."""

    contact_score: float
    in_contact: bool
    probabilities: np.ndarray | None = None   # (C,), None without contact
    familiarity: float | None = None          # largest distance / threshold; None without contact


@dataclass(frozen=True)
class Recognition:
    """A decision over one or more groups of frames (the presses of a cycle, or one touch)."""

    label: str                        # a class name, UNKNOWN or NO_CONTACT
    reason: str                       # "" for a material, else a Reason value
    confidence: float                 # fused probability of the most likely class (0 for no_contact)
    probabilities: np.ndarray | None  # (C,) fused, model card order; None for no_contact
    familiarity: float | None         # median familiarity ratio of the frames with contact
    frames_in_contact: int

    @property
    def is_material(self) -> bool:
        return not self.reason


class Recognizer:
    """Contact check, model, familiarity and confidence threshold around one verified model."""

    def __init__(self, model: OnnxClassifier, contact: ContactConfig | None = None,
                 confidence_threshold: float = 0.5) -> None:
        if not 0.0 <= confidence_threshold <= 1.0:
            raise ValueError(f"confidence_threshold = {confidence_threshold} is outside [0, 1]")
        self.model = model
        own = card_contact_gate(model.card.extra)
        # a model's own gate replaces the default one; thresholds set by hand win
        self.contact = own if own is not None and contact in (None, ContactConfig()) else (contact or ContactConfig())
        self.confidence_threshold = confidence_threshold
        self.model_time_s = 0.0   # model + familiarity time of the last assess() call

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.model.class_names

    def assess(self, frames: Sequence[np.ndarray], reference: np.ndarray | None) -> list[FrameAssessment]:
        """Score each frame for contact; classify and score the familiarity of those with contact."""
        if reference is None:
            raise FrameError("no no-contact reference frame: every classification first checks contact against "
                             "the sensor's own no-contact frame (give --reference NO_CONTACT.png, or capture one "
                             "with nothing touching the gel)")
        frames = [_matching(frame, reference) for frame in frames]
        scores = [contact_score(frame, reference, self.contact) for frame in frames]
        touching = [i for i, s in enumerate(scores) if s >= self.contact.exit_score]
        out = [FrameAssessment(s, False) for s in scores]
        start = time.perf_counter()
        if touching:
            chosen = [frames[i] for i in touching]
            card = self.model.card
            pixels = preprocess(chosen, card.preprocessing, reference if card.preprocessing.subtract_background else None)
            logits, features = self.model.run(pixels)
            probabilities = softmax(logits)
            familiarity = self.model.familiarity
            ratios = None
            if familiarity is not None:
                inputs = {"signature": np.stack([contact_signature(f, reference) for f in chosen])}
                if features is not None:
                    inputs["features"] = features
                ratios = familiarity.ratios(inputs, probabilities.argmax(axis=1))
            for k, i in enumerate(touching):
                out[i] = FrameAssessment(scores[i], True, probabilities[k],
                                         None if ratios is None else float(ratios[k]))
        self.model_time_s = time.perf_counter() - start
        return out

    def decide(self, groups: Sequence[Sequence[FrameAssessment]]) -> Recognition:
        """One decision over groups of assessed frames (see the module docstring)."""
        touching = [[a for a in group if a.in_contact] for group in groups]
        in_contact = [a for group in touching for a in group]
        if not in_contact:
            return Recognition(NO_CONTACT, Reason.NO_CONTACT.value, 0.0, None, None, 0)
        fused = fuse_log_probabilities([np.stack([a.probabilities for a in g]) for g in touching if g])
        index = int(np.argmax(fused))
        confidence = float(fused[index])
        ratios = [a.familiarity for a in in_contact if a.familiarity is not None]
        familiarity = float(np.median(ratios)) if ratios else None
        if familiarity is not None and familiarity > 1.0:
            label, reason = UNKNOWN, Reason.UNFAMILIAR_INPUT.value
        elif confidence < self.confidence_threshold:
            label, reason = UNKNOWN, Reason.LOW_CONFIDENCE.value
        else:
            label, reason = self.class_names[index], ""
        return Recognition(label, reason, confidence, fused, familiarity, len(in_contact))

    def recognise(self, frames: Sequence[np.ndarray], reference: np.ndarray | None) -> Recognition:
        """Assess and decide in one step (frames of one touch, fused)."""
        return self.decide([self.assess(frames, reference)])


def card_contact_gate(extra: dict) -> ContactConfig | None:
    """The contact gate a model card carries (``contact.gate``: enter and exit score), or None."""
    gate = (extra.get("contact") or {}).get("gate")
    if not gate:
        return None
    return ContactConfig(enter_score=float(gate["enter_score"]), exit_score=float(gate["exit_score"]))


def _matching(frame: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``frame`` in the reference's orientation (a landscape frame against a portrait reference, or back)."""
    if frame.shape != reference.shape and frame.shape == (reference.shape[1], reference.shape[0], *reference.shape[2:]):
        return np.ascontiguousarray(frame.transpose(1, 0, 2))
    if frame.shape != reference.shape:
        raise FrameError(f"frame {frame.shape[1]}x{frame.shape[0]} and reference {reference.shape[1]}x"
                         f"{reference.shape[0]} differ in size: capture the reference with the same sensor at the "
                         "frame's resolution")
    return frame
