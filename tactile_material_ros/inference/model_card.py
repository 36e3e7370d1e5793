"""The model card: the JSON that travels beside an exported ONNX model.

It names the classes (their order is the order of the probabilities everywhere), the
preprocessing, the input/output tensor names, metrics, provenance, the parity check and
the ONNX file's sha256, which every consumer verifies before running the model.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tactile_material_ros.inference.preprocessing import PreprocessConfig

CARD_FORMAT = "tactile_material_ros/model-card@1"


class ModelIntegrityError(ValueError):
    """The model file is missing, has no card, or its bytes do not match the card's sha256."""


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def card_path_for(model_path: str | Path) -> Path:
    """models/tactile_vit.onnx -> models/tactile_vit.json"""
    return Path(model_path).with_suffix(".json")


@dataclass(frozen=True)
class ModelCard:
    class_names: tuple[str, ...]
    preprocessing: PreprocessConfig
    sha256: str
    model_file: str
    input_name: str = "pixel_values"
    output_name: str = "logits"
    feature_name: str = ""   # the output with the features the head reads (familiarity check); "" if none
    extra: dict[str, Any] = field(default_factory=dict)  # architecture, metrics, provenance, parity, ...

    def __post_init__(self) -> None:
        if len(self.class_names) < 2 or len(set(self.class_names)) != len(self.class_names):
            raise ModelIntegrityError(f"model card needs >= 2 unique class names, got {list(self.class_names)}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": CARD_FORMAT,
            "model_file": self.model_file,
            "sha256": self.sha256,
            "class_names": list(self.class_names),
            "input_name": self.input_name,
            "output_name": self.output_name,
            **({"feature_name": self.feature_name} if self.feature_name else {}),
            "preprocessing": {**self.preprocessing.to_dict(), "frame_shape": self.preprocessing.describe_shape_handling()},
            **self.extra,
        }

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> ModelCard:
        path = Path(path)
        if not path.is_file():
            raise ModelIntegrityError(f"model card {path} not found: every model needs its card (export writes both)")
        try:
            raw = json.loads(path.read_text())
            base = {"format", "model_file", "sha256", "class_names", "input_name", "output_name", "feature_name",
                    "preprocessing"}
            return cls(
                class_names=tuple(raw["class_names"]),
                preprocessing=PreprocessConfig.from_dict(raw["preprocessing"]),
                sha256=str(raw["sha256"]),
                model_file=str(raw["model_file"]),
                input_name=str(raw.get("input_name", "pixel_values")),
                output_name=str(raw.get("output_name", "logits")),
                feature_name=str(raw.get("feature_name", "")),
                extra={k: v for k, v in raw.items() if k not in base},
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelIntegrityError(f"model card {path} is malformed: {exc}") from None


def load_verified_card(model_path: str | Path, card_path: str | Path | None = None) -> ModelCard:
    """Load the card of ``model_path`` and check the model's bytes against its sha256."""
    model_path = Path(model_path)
    if not model_path.is_file():
        raise ModelIntegrityError(f"model file {model_path} not found")
    card = ModelCard.load(card_path or card_path_for(model_path))
    actual = sha256_file(model_path)
    if actual != card.sha256:
        raise ModelIntegrityError(
            f"model file {model_path} does not match its card: sha256 is {actual[:12]}…, the card says "
            f"{card.sha256[:12]}…. The file was changed or belongs to another card; re-export the model "
            "(tactile-material export) or restore the file."
        )
    return card
