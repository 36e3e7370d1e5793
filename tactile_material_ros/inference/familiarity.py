"""Does a frame look like the frames the model was trained on? If not, its answer is `unknown`.

Two detectors, each a set of class-conditional Gaussians (Lee et al., "A Simple Unified
Framework for Detecting Out-of-Distribution Samples and Adversarial Attacks", NeurIPS 2018:
one covariance shared by the classes; for the 10-number signature, one per class), fitted on
the training frames:

- ``features``: the network's own feature vector (the CLS state its linear head reads);
- ``signature``: the contact's physical signature (:mod:`contact_signature`: strength,
  area, colour of the change, texture energy, camera noise), which, unlike the network's
  features, does not pull a faint unfamiliar contact towards a class.

A frame is scored against the Gaussian of the class the model predicts for it: the squared
Mahalanobis distance ``(x - mu_c)^T S^-1 (x - mu_c)``, ``S`` the covariance shrunk towards
its own diagonal (``(1 - λ) S + λ diag(S)``, λ = 0.1, so it stays invertible and each
dimension keeps its scale).
Each detector's threshold is the quantile of held-out in-distribution frames (frames of
sensors the model was not trained on, from the same simulator) that keeps
``1 - (1 - coverage) / K`` of them for K detectors, so that together they keep at least
``coverage`` (Bonferroni); the card records the coverage measured on that set. A frame's
familiarity ratio is its largest distance / threshold: above 1 it is unfamiliar.

Everything travels in the model card's ``familiarity`` section, with a sha256 over the
section and the model file's own sha256, so that statistics edited by hand, or copied from
another model, are refused like changed weights. Arrays are stored as base64 of
little-endian float32 with their shape.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tactile_material_ros.inference.model_card import ModelIntegrityError

FAMILIARITY_FORMAT = "tactile_material_ros/familiarity@1"
DETECTORS = ("features", "signature")
SHRINKAGE = 0.1
PER_CLASS = ("signature",)  # 10 numbers: a covariance per class; the features (192) share one


class FamiliarityError(ModelIntegrityError):
    """The card's familiarity statistics are missing, malformed, or do not belong to this model."""


def _encode(array: np.ndarray) -> dict[str, Any]:
    data = np.ascontiguousarray(array, dtype="<f4")
    return {"shape": list(data.shape), "float32_base64": base64.b64encode(data.tobytes()).decode("ascii")}


def _decode(raw: Mapping[str, Any]) -> np.ndarray:
    data = np.frombuffer(base64.b64decode(raw["float32_base64"]), dtype="<f4")
    return data.reshape([int(n) for n in raw["shape"]]).astype(np.float64)


def _shrunk_inverse(covariance: np.ndarray, shrinkage: float) -> np.ndarray:
    """Inverse of the covariance shrunk towards its own diagonal: each dimension keeps its own scale (the
    dimensions of the signature differ in scale by orders of magnitude), the correlations shrink."""
    diagonal = np.diag(np.maximum(np.diag(covariance), 1e-9))
    return np.linalg.inv((1 - shrinkage) * covariance + shrinkage * diagonal)


@dataclass(frozen=True)
class ClassGaussians:
    """Class means (C, D) and precision matrices: one shared (D, D) or one per class (C, D, D).

    ``threshold``: the squared distance at which a frame becomes unfamiliar."""

    means: np.ndarray
    precision: np.ndarray
    threshold: float

    @classmethod
    def fit(cls, x: np.ndarray, labels: np.ndarray, n_classes: int, per_class: bool = False,
            shrinkage: float = SHRINKAGE) -> ClassGaussians:
        """``per_class``: a covariance per class (for few dimensions and enough frames of every class),
        else one shared by all classes."""
        x = np.asarray(x, dtype=np.float64)
        overall = x.mean(axis=0)
        means = np.stack([x[labels == c].mean(axis=0) if np.any(labels == c) else overall for c in range(n_classes)])
        centred = x - means[labels]
        shared = centred.T @ centred / max(len(x) - n_classes, 1)
        if not per_class:
            return cls(means, _shrunk_inverse(shared, shrinkage), float("inf"))
        precisions = []
        for c in range(n_classes):
            mine = centred[labels == c]
            own = mine.T @ mine / (len(mine) - 1) if len(mine) > x.shape[1] else shared
            precisions.append(_shrunk_inverse(own, shrinkage))
        return cls(means, np.stack(precisions), float("inf"))

    def distances(self, x: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distance of each row of ``x`` to the Gaussian of its class."""
        classes = np.asarray(classes)
        diff = np.asarray(x, dtype=np.float64) - self.means[classes]
        if self.precision.ndim == 3:
            return np.einsum("nd,nde,ne->n", diff, self.precision[classes], diff)
        return np.einsum("nd,de,ne->n", diff, self.precision, diff)

    def with_threshold(self, threshold: float) -> ClassGaussians:
        return ClassGaussians(self.means, self.precision, float(threshold))

    def to_dict(self) -> dict[str, Any]:
        return {"means": _encode(self.means), "precision": _encode(self.precision), "threshold": self.threshold}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ClassGaussians:
        return cls(_decode(raw["means"]), _decode(raw["precision"]), float(raw["threshold"]))


@dataclass(frozen=True)
class Familiarity:
    detectors: dict[str, ClassGaussians]
    coverage: float                                        # target share of in-distribution frames kept
    calibration: dict[str, Any] = field(default_factory=dict)   # what the thresholds were set on, and measured

    def __post_init__(self) -> None:
        unknown = sorted(set(self.detectors) - set(DETECTORS))
        if unknown or not self.detectors:
            raise FamiliarityError(f"familiarity detectors {sorted(self.detectors)}: use one or more of {DETECTORS}")

    def ratios(self, inputs: Mapping[str, np.ndarray], classes: np.ndarray) -> np.ndarray:
        """Per frame, the largest distance / threshold over the detectors (N,); above 1: unfamiliar."""
        missing = [name for name in self.detectors if name not in inputs]
        if missing:
            raise FamiliarityError(f"familiarity needs {missing} for every frame, got {sorted(inputs)}")
        per_detector = [g.distances(inputs[name], classes) / g.threshold for name, g in self.detectors.items()]
        return np.max(np.stack(per_detector), axis=0)

    def detector_ratios(self, inputs: Mapping[str, np.ndarray], classes: np.ndarray) -> dict[str, np.ndarray]:
        return {name: g.distances(inputs[name], classes) / g.threshold for name, g in self.detectors.items()}

    # --- the card ------------------------------------------------------------------------
    def _body(self) -> dict[str, Any]:
        return {"format": FAMILIARITY_FORMAT, "method": "class-conditional Gaussians (features: shared covariance; "
                "signature: one per class), squared Mahalanobis distance to the predicted class (Lee et al. 2018); "
                f"shrinkage {SHRINKAGE}", "coverage": self.coverage, "calibration": self.calibration,
                "detectors": {name: g.to_dict() for name, g in self.detectors.items()}}

    @staticmethod
    def _digest(body: Mapping[str, Any], model_sha256: str) -> str:
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256((model_sha256 + canonical).encode()).hexdigest()

    def to_card(self, model_sha256: str) -> dict[str, Any]:
        body = self._body()
        return {**body, "sha256": self._digest(body, model_sha256)}

    @classmethod
    def from_card(cls, raw: Mapping[str, Any] | None, model_sha256: str, where: str = "the model card") -> Familiarity:
        if not raw:
            raise FamiliarityError(
                f"{where} has no `familiarity` section, so the classifier could not tell an unfamiliar frame "
                "(another sensor, a broken LED, an unknown contact) from a familiar one; re-export the model with "
                "`tactile-material export --familiarity-data TRAIN --calibration-data HELD_OUT`")
        try:
            body = {k: v for k, v in raw.items() if k != "sha256"}
            if body.get("format") != FAMILIARITY_FORMAT:
                raise FamiliarityError(f"{where}: familiarity format {body.get('format')!r}, expected {FAMILIARITY_FORMAT!r}")
            if cls._digest(body, model_sha256) != raw.get("sha256"):
                raise FamiliarityError(
                    f"{where}: the familiarity statistics do not match their sha256 (edited by hand, or copied from "
                    "another model); re-export the model, or restore its card")
            detectors = {name: ClassGaussians.from_dict(d) for name, d in body["detectors"].items()}
            return cls(detectors, float(body["coverage"]), dict(body.get("calibration", {})))
        except (KeyError, TypeError, ValueError) as exc:
            raise FamiliarityError(f"{where}: malformed familiarity section ({exc}); re-export the model") from None


def fit_familiarity(fit_inputs: Mapping[str, np.ndarray], fit_labels: np.ndarray,
                    held_out_inputs: Mapping[str, np.ndarray], held_out_predicted: np.ndarray,
                    n_classes: int, coverage: float = 0.99, calibration: Mapping[str, Any] | None = None) -> Familiarity:
    """Fit each detector on the training frames (true labels) and set its threshold on held-out frames.

    ``held_out_predicted``: the model's predicted class for each held-out frame (the class it is
    scored against at run time). The returned calibration records the measured coverage."""
    if not 0.5 <= coverage < 1.0:
        raise ValueError(f"coverage = {coverage} is outside [0.5, 1): it is the share of familiar frames kept")
    names = [name for name in DETECTORS if name in fit_inputs]
    quantile = 1.0 - (1.0 - coverage) / len(names)
    detectors: dict[str, ClassGaussians] = {}
    for name in names:
        gaussians = ClassGaussians.fit(fit_inputs[name], fit_labels, n_classes, per_class=name in PER_CLASS)
        held = gaussians.distances(held_out_inputs[name], held_out_predicted)
        detectors[name] = gaussians.with_threshold(float(np.quantile(held, quantile)))
    familiarity = Familiarity(detectors, coverage)
    ratios = familiarity.detector_ratios(held_out_inputs, held_out_predicted)
    measured = {name: float(np.mean(r <= 1.0)) for name, r in ratios.items()}
    measured["all"] = float(np.mean(np.max(np.stack(list(ratios.values())), axis=0) <= 1.0))
    info = {**(calibration or {}), "fit_frames": int(len(fit_labels)), "held_out_frames": int(len(held_out_predicted)),
            "per_detector_quantile": quantile, "kept_on_held_out": measured}
    return Familiarity(detectors, coverage, info)
