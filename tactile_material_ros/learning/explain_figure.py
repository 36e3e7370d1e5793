"""`explain`: one figure per tactile image, laid out like the paper's Fig. 3, and its numbers.

Panels: the tactile frame, its Grad-CAM overlay, its deep-feature-factorisation overlay (each
concept a colour, the legend naming the class the head gives that concept and the
factorisation's relative reconstruction error), and the top-5 class probabilities. Beside each
figure a JSON sidecar holds the same numbers (:meth:`Explanation.summary`).

Explanations need gradients, so they run on the PyTorch student, not the ONNX model: by default
the bundled model's weights that ``export`` writes beside it (``models/tactile_vit_torch``),
or any run directory given as ``checkpoint``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from tactile_material_ros.inference.model_card import card_path_for, sha256_file
from tactile_material_ros.inference.preprocessing import PreprocessConfig, preprocess
from tactile_material_ros.learning.export import torch_dir_for
from tactile_material_ros.learning.feature_factorisation import Factorisation, deep_feature_factorisation
from tactile_material_ros.learning.gradcam import GradCAM, vit_reshape_transform
from tactile_material_ros.learning.students import WEIGHTS_FILE, TactileViT, load_student
from tactile_material_ros.paths import model_file

log = logging.getLogger(__name__)
CONCEPT_COLOURS = np.array([[0.90, 0.10, 0.10], [0.10, 0.60, 0.95], [0.95, 0.80, 0.10], [0.20, 0.80, 0.30],
                            [0.75, 0.30, 0.90], [0.95, 0.50, 0.10]])
TOP_K = 5


@dataclass(frozen=True)
class ExplainConfig:
    checkpoint: str = field(default="", metadata={"help": "run directory of a trained student (default: the bundled "
                                                          "model's PyTorch weights, models/tactile_vit_torch)"})
    reference: str = field(default="", metadata={"help": "the sensor's no-contact frame (background subtraction)"})
    target: str = field(default="", metadata={"help": "class to explain (default: the predicted one)"})
    concepts: int = field(default=4, metadata={"help": "DFF concepts"})

    def __post_init__(self) -> None:
        if not 1 <= self.concepts <= len(CONCEPT_COLOURS):
            raise ValueError(f"concepts must be in [1, {len(CONCEPT_COLOURS)}], got {self.concepts}")


class ExplainerUnavailableError(FileNotFoundError):
    """An exported model has no (or no matching) PyTorch weights beside it to explain with."""


def weights_for_model(model_path: str | Path) -> Path:
    """The PyTorch weights that ``export`` wrote beside ``model_path``, checked against its card.

    The card's ``pytorch`` entry names the folder and the weights' sha256; a folder that is
    missing, or whose weights differ from the card, is refused: explaining with other weights
    than the ones the classifier runs would explain another model.
    """
    model_path = Path(model_path)
    card_path = card_path_for(model_path)
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    entry = card.get("pytorch")
    directory = model_path.parent / entry["directory"] if entry else torch_dir_for(model_path)
    if not entry or not (directory / WEIGHTS_FILE).is_file():
        raise ExplainerUnavailableError(
            f"{model_path.name} has no PyTorch weights beside it ({directory}): Grad-CAM needs gradients, which "
            "ONNX Runtime does not give. `tactile-material export --checkpoint RUN` writes them; or pass "
            "--checkpoint RUN_DIR")
    if sha256_file(directory / WEIGHTS_FILE) != entry["sha256"]:
        raise ExplainerUnavailableError(
            f"{directory / WEIGHTS_FILE} does not match the sha256 in {card_path.name}: these are not the weights "
            f"{model_path.name} was exported from; export again or pass --checkpoint RUN_DIR")
    return directory


@dataclass(frozen=True, eq=False)
class Explanation:
    """Grad-CAM and DFF of one frame."""

    frame: np.ndarray              # the frame as given (BGR uint8)
    heat: np.ndarray               # Grad-CAM on the model input (size, size), in [0, 1]
    probabilities: np.ndarray      # (classes,)
    target: str                    # the class Grad-CAM explains
    dff: Factorisation
    grid_hw: tuple[int, int]       # the patch grid DFF's maps live on
    class_names: tuple[str, ...]

    @property
    def predicted(self) -> str:
        return self.class_names[int(self.probabilities.argmax())]

    def heat_on_frame(self) -> np.ndarray:
        """Grad-CAM at the frame's own size: preprocessing squeezed the frame to a square, this undoes it."""
        h, w = self.frame.shape[:2]
        return cv2.resize(self.heat, (w, h), interpolation=cv2.INTER_LINEAR)

    def concept_classes(self) -> list[tuple[str, float]]:
        """Per DFF concept: the class the head gives it and that class's probability."""
        return [(self.class_names[int(s.argmax())], float(s.max())) for s in self.dff.concept_scores]

    def summary(self) -> dict[str, Any]:
        """The JSON sidecar: probabilities, target, DFF relative error and concept classes."""
        top = np.argsort(self.probabilities)[::-1][:TOP_K]
        return {
            "predicted": self.predicted,
            "target": self.target,
            "probabilities": {n: round(float(p), 6) for n, p in zip(self.class_names, self.probabilities, strict=True)},
            "top": [[self.class_names[i], round(float(self.probabilities[i]), 6)] for i in top],
            "dff": {"concepts": len(self.dff.concept_scores), "relative_error": round(self.dff.relative_error, 6),
                    "concept_classes": [{"class": name, "probability": round(p, 6)}
                                        for name, p in self.concept_classes()]},
        }


class Explainer:
    """A trained student and its preprocessing: frames in, :class:`Explanation` out."""

    def __init__(self, student: TactileViT, meta: dict[str, Any], concepts: int = 4, source: str = "") -> None:
        self.student = student.eval()
        self.class_names: tuple[str, ...] = tuple(meta["class_names"])
        self.preprocessing = PreprocessConfig.from_dict(meta["preprocessing"])
        self.concepts = concepts
        self.source = source

    @classmethod
    def from_checkpoint(cls, checkpoint: str | Path = "", concepts: int = 4) -> Explainer:
        """``checkpoint``: a run directory or an exported ``*_torch`` folder; empty: the bundled model's weights."""
        path = Path(checkpoint) if checkpoint else weights_for_model(model_file())
        student, meta = load_student(path)
        return cls(student, meta, concepts, str(path))

    @classmethod
    def for_model(cls, model_path: str | Path, concepts: int = 4) -> Explainer:
        """The weights exported beside an ONNX model (checked against its card)."""
        return cls.from_checkpoint(weights_for_model(model_path), concepts)

    def explain(self, frame: np.ndarray, reference: np.ndarray | None = None, target: str | None = None) -> Explanation:
        """Grad-CAM for ``target`` (default: the predicted class) and DFF of one BGR frame."""
        if target and target not in self.class_names:
            raise ValueError(f"target class {target!r} is not one of {list(self.class_names)}")
        pixels = torch.from_numpy(preprocess(frame, self.preprocessing, reference))
        with GradCAM(self.student) as cam:
            heat, logits = cam(pixels, self.class_names.index(target) if target else None)
            tokens = cam.activations.detach()
        probabilities = torch.softmax(logits, -1)[0].numpy()
        grid = vit_reshape_transform(tokens)[0].numpy()
        dff = deep_feature_factorisation(grid, self.concepts, self.student.head.weight.detach().numpy(),
                                         self.student.head.bias.detach().numpy())
        return Explanation(frame, heat[0].numpy(), probabilities,
                           target or self.class_names[int(probabilities.argmax())], dff,
                           (grid.shape[1], grid.shape[2]), self.class_names)


def draw(explanation: Explanation, title: str) -> Figure:
    """The Fig. 3-style figure of one explanation (no pyplot: safe off the main thread)."""
    shown = cv2.cvtColor(explanation.frame, cv2.COLOR_BGR2RGB)
    side = max(shown.shape[:2])
    square = cv2.resize(shown, (side, side)) / 255.0  # the model sees the frame squeezed to a square
    heat_up = cv2.resize(explanation.heat, (side, side))
    k = len(explanation.dff.concept_scores) or explanation.dff.maps.shape[0]
    maps = explanation.dff.maps.reshape(k, *explanation.grid_hw)
    maps = maps / np.maximum(maps.max(axis=(1, 2), keepdims=True), 1e-12)
    concept_rgb = CONCEPT_COLOURS[maps.argmax(0)] * maps.max(0)[..., None]
    concept_rgb = cv2.resize(concept_rgb, (side, side), interpolation=cv2.INTER_NEAREST)

    fig = Figure(figsize=(14, 3.8), dpi=100)
    axes = fig.subplots(1, 4, gridspec_kw={"width_ratios": [1, 1, 1, 1.2]})
    axes[0].imshow(square)
    axes[0].set_title("tactile frame")
    axes[1].imshow(square)
    axes[1].imshow(heat_up, cmap="jet", alpha=0.45, vmin=0, vmax=1)
    axes[1].set_title(f"Grad-CAM: {explanation.target}")
    axes[2].imshow(0.5 * square + 0.5 * concept_rgb)
    error = explanation.dff.relative_error
    axes[2].set_title(f"DFF, {k} concepts (rel. error {error:.2f})")
    legend = [Patch(color=CONCEPT_COLOURS[i], label=f"{name} {100 * p:.0f}%")
              for i, (name, p) in enumerate(explanation.concept_classes())]
    axes[2].legend(handles=legend, loc="lower center", fontsize=7, ncol=2, bbox_to_anchor=(0.5, -0.32),
                   title="concept: the class the head gives it", title_fontsize=7)
    for ax in axes[:3]:
        ax.axis("off")
    probabilities = explanation.probabilities
    top = np.argsort(probabilities)[::-1][:TOP_K]
    axes[3].barh(range(len(top))[::-1], probabilities[top], color="tab:blue")
    axes[3].set_yticks(range(len(top))[::-1], [explanation.class_names[i] for i in top])
    axes[3].set_xlim(0, 1)
    axes[3].set_title(f"top-{len(top)} probabilities")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def save_explanation(explanation: Explanation, title: str, png_path: Path, extra: dict[str, Any] | None = None) -> Path:
    """Write the figure to ``png_path`` and its JSON sidecar (same name, .json); returns the PNG path."""
    png_path.parent.mkdir(parents=True, exist_ok=True)
    draw(explanation, title).savefig(png_path, dpi=100, bbox_inches="tight")
    sidecar = {**(extra or {}), **explanation.summary()}
    png_path.with_suffix(".json").write_text(json.dumps(sidecar, indent=2) + "\n")
    return png_path


def explain_images(images: list[str], out: str | Path, config: ExplainConfig) -> list[Path]:
    explainer = Explainer.from_checkpoint(config.checkpoint, config.concepts)
    if config.target and config.target not in explainer.class_names:
        raise ValueError(f"target class {config.target!r} is not one of {list(explainer.class_names)}")
    reference = cv2.imread(config.reference, cv2.IMREAD_COLOR) if config.reference else None
    if config.reference and reference is None:
        raise FileNotFoundError(f"cannot read the reference frame {config.reference}")
    out = Path(out)
    written = []
    for image_path in images:
        frame = cv2.imread(image_path, cv2.IMREAD_COLOR)
        if frame is None:
            log.error("cannot read image %s (skipped)", image_path)
            continue
        explanation = explainer.explain(frame, reference, config.target or None)
        written.append(save_explanation(explanation, Path(image_path).name,
                                        out / f"{Path(image_path).stem}_explained.png",
                                        {"image": image_path, "checkpoint": explainer.source}))
    return written
