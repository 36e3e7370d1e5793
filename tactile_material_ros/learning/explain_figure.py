"""`explain`: one figure per tactile image, laid out like the paper's Fig. 3.

Panels: the tactile frame, its Grad-CAM overlay, its deep-feature-factorisation overlay (each
concept a colour, the legend naming the class the head gives that concept), and the top-5
class probabilities.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from tactile_material_ros.inference.preprocessing import PreprocessConfig, preprocess
from tactile_material_ros.learning.feature_factorisation import deep_feature_factorisation
from tactile_material_ros.learning.gradcam import GradCAM, vit_reshape_transform
from tactile_material_ros.learning.students import load_student

log = logging.getLogger(__name__)
CONCEPT_COLOURS = np.array([[0.90, 0.10, 0.10], [0.10, 0.60, 0.95], [0.95, 0.80, 0.10], [0.20, 0.80, 0.30],
                            [0.75, 0.30, 0.90], [0.95, 0.50, 0.10]])


@dataclass(frozen=True)
class ExplainConfig:
    checkpoint: str = field(default="", metadata={"help": "run directory of a trained student"})
    reference: str = field(default="", metadata={"help": "the sensor's no-contact frame (background subtraction)"})
    target: str = field(default="", metadata={"help": "class to explain (default: the predicted one)"})
    concepts: int = field(default=4, metadata={"help": "DFF concepts"})

    def __post_init__(self) -> None:
        if not 1 <= self.concepts <= len(CONCEPT_COLOURS):
            raise ValueError(f"concepts must be in [1, {len(CONCEPT_COLOURS)}], got {self.concepts}")


def explain_images(images: list[str], out: str | Path, config: ExplainConfig) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    student, meta = load_student(config.checkpoint)
    class_names: list[str] = meta["class_names"]
    preprocessing = PreprocessConfig.from_dict(meta["preprocessing"])
    if config.target and config.target not in class_names:
        raise ValueError(f"target class {config.target!r} is not one of {class_names}")
    reference = cv2.imread(config.reference, cv2.IMREAD_COLOR) if config.reference else None
    if config.reference and reference is None:
        raise FileNotFoundError(f"cannot read the reference frame {config.reference}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for image_path in images:
        frame = cv2.imread(image_path, cv2.IMREAD_COLOR)
        if frame is None:
            log.error("cannot read image %s (skipped)", image_path)
            continue
        pixels = torch.from_numpy(preprocess(frame, preprocessing, reference))
        with GradCAM(student) as cam:
            heat, logits = cam(pixels, class_names.index(config.target) if config.target else None)
            tokens = cam.activations.detach()
        probabilities = torch.softmax(logits, -1)[0].numpy()
        grid = vit_reshape_transform(tokens)[0].numpy()
        dff = deep_feature_factorisation(grid, config.concepts, student.head.weight.detach().numpy(),
                                         student.head.bias.detach().numpy())
        shown = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        h, w = shown.shape[:2]
        side = max(h, w)
        square = cv2.resize(shown, (side, side)) / 255.0  # the model sees the frame squeezed to a square
        heat_up = cv2.resize(heat[0].numpy(), (side, side))
        maps = dff.maps.reshape(config.concepts, grid.shape[1], grid.shape[2])
        maps = maps / np.maximum(maps.max(axis=(1, 2), keepdims=True), 1e-12)
        owner = maps.argmax(0)
        strength = maps.max(0)
        concept_rgb = CONCEPT_COLOURS[owner] * strength[..., None]
        concept_rgb = cv2.resize(concept_rgb, (side, side), interpolation=cv2.INTER_NEAREST)

        fig, axes = plt.subplots(1, 4, figsize=(14, 3.8), gridspec_kw={"width_ratios": [1, 1, 1, 1.2]})
        axes[0].imshow(square)
        axes[0].set_title("tactile frame")
        axes[1].imshow(square)
        axes[1].imshow(heat_up, cmap="jet", alpha=0.45, vmin=0, vmax=1)
        target = config.target or class_names[int(probabilities.argmax())]
        axes[1].set_title(f"Grad-CAM: {target}")
        axes[2].imshow(0.5 * square + 0.5 * concept_rgb)
        axes[2].set_title(f"DFF, {config.concepts} concepts (err {dff.relative_error:.2f})")
        legend = [Patch(color=CONCEPT_COLOURS[k], label=f"{class_names[int(dff.concept_scores[k].argmax())]} "
                        f"{100 * dff.concept_scores[k].max():.0f}%") for k in range(config.concepts)]
        axes[2].legend(handles=legend, loc="lower center", fontsize=7, ncol=2, bbox_to_anchor=(0.5, -0.32))
        for ax in axes[:3]:
            ax.axis("off")
        top = np.argsort(probabilities)[::-1][:5]
        axes[3].barh(range(len(top))[::-1], probabilities[top], color="tab:blue")
        axes[3].set_yticks(range(len(top))[::-1], [class_names[i] for i in top])
        axes[3].set_xlim(0, 1)
        axes[3].set_title(f"top-{len(top)} probabilities")
        fig.suptitle(Path(image_path).name)
        fig.tight_layout()
        target_path = out / f"{Path(image_path).stem}_explained.png"
        fig.savefig(target_path, dpi=100, bbox_inches="tight")
        plt.close(fig)
        written.append(target_path)
    return written
