"""The student: a transformers ViT encoder, a linear class head and, for feature KD, a projection.

Sizes follow DeiT/ViT (Touvron et al. 2021; Dosovitskiy et al. 2021): tiny 192-d x 12 layers
x 3 heads, small 384 x 12 x 6, base 768 x 12 x 12 (the paper's ViT-B/16); ``micro`` is ours,
2 layers of 64, for tests. Image and patch size are free; a pretrained ViT can be loaded by
Hugging Face id or folder (never downloaded at run time), otherwise training starts from scratch.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

VIT_SIZES: dict[str, dict[str, int]] = {
    "micro": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 128},
    "tiny": {"hidden_size": 192, "num_hidden_layers": 12, "num_attention_heads": 3, "intermediate_size": 768},
    "small": {"hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 6, "intermediate_size": 1536},
    "base": {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072},
}
STUDENT_FILE = "student.json"
WEIGHTS_FILE = "model.safetensors"


@dataclass(frozen=True)
class StudentConfig:
    size: str = field(default="tiny", metadata={"help": f"ViT size: {', '.join(VIT_SIZES)}"})
    image_size: int = field(default=112, metadata={"help": "input side [px]; also the preprocessing size"})
    patch_size: int = field(default=16, metadata={"help": "ViT patch side [px]"})
    layers: int = field(default=0, metadata={"help": "transformer blocks (0: the size's own depth, 12 for tiny/small/base)"})
    pretrained: str = field(default="", metadata={"help": "Hugging Face id or folder of a pretrained ViT (sets size)"})

    def __post_init__(self) -> None:
        if self.size not in VIT_SIZES:
            raise ValueError(f"unknown student size {self.size!r}; known: {', '.join(VIT_SIZES)}")
        if not 0 <= self.layers <= 48:
            raise ValueError(f"layers must be in [0, 48] (0: the size's depth), got {self.layers}")
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size {self.image_size} must be a multiple of patch_size {self.patch_size}")


class StudentOutput(NamedTuple):
    logits: torch.Tensor          # (B, classes)
    cls: torch.Tensor             # (B, hidden) first-token last hidden state
    features: torch.Tensor | None  # (B, teacher width) projected CLS, when a projection exists


class TactileViT(nn.Module):
    """ViT encoder -> CLS -> linear head; ``projection`` maps CLS into the teacher's width for feature KD."""

    def __init__(self, encoder: nn.Module, num_classes: int, feature_dim: int | None = None) -> None:
        super().__init__()
        self.encoder = encoder
        hidden = int(encoder.config.hidden_size)
        self.head = nn.Linear(hidden, num_classes)
        self.projection: nn.Module | None = None
        if feature_dim:
            # identity when the widths agree, else a learned linear map (DESIGN: MiniLM 384 vs ViT-tiny 192)
            self.projection = nn.Identity() if feature_dim == hidden else nn.Linear(hidden, feature_dim)

    @property
    def hidden_size(self) -> int:
        return int(self.encoder.config.hidden_size)

    def cls(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.encoder(pixel_values=pixel_values).last_hidden_state[:, 0]

    def forward(self, pixel_values: torch.Tensor) -> StudentOutput:
        cls = self.cls(pixel_values)
        features = self.projection(cls) if self.projection is not None else None
        return StudentOutput(self.head(cls), cls, features)


class LogitsOnly(nn.Module):
    """pixel_values -> logits: the exported graph."""

    def __init__(self, student: TactileViT) -> None:
        super().__init__()
        self.student = student

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.student.head(self.student.cls(pixel_values))


class LogitsAndFeatures(nn.Module):
    """pixel_values -> (logits, the CLS features the head reads): the exported graph.

    The features feed the classifier's familiarity check (inference/familiarity.py)."""

    def __init__(self, student: TactileViT) -> None:
        super().__init__()
        self.student = student

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cls = self.student.cls(pixel_values)
        return self.student.head(cls), cls


def _vit_config(config: StudentConfig) -> Any:
    from transformers import ViTConfig

    size = {**VIT_SIZES[config.size], **({"num_hidden_layers": config.layers} if config.layers else {})}
    return ViTConfig(image_size=config.image_size, patch_size=config.patch_size, num_channels=3,
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, **size)


def build_encoder(config: StudentConfig) -> nn.Module:
    from transformers import ViTModel

    if not config.pretrained:
        return ViTModel(_vit_config(config), add_pooling_layer=False)
    try:
        return ViTModel.from_pretrained(config.pretrained, local_files_only=True, add_pooling_layer=False)
    except OSError as exc:
        raise FileNotFoundError(
            f"pretrained ViT {config.pretrained!r} is not on this machine (weights are never downloaded at run "
            "time): put it in the Hugging Face cache and point HF_HOME at it, or pass a local folder; or train "
            f"from scratch without --pretrained. ({type(exc).__name__})") from None


def build_student(config: StudentConfig, num_classes: int, feature_dim: int | None = None) -> TactileViT:
    return TactileViT(build_encoder(config), num_classes, feature_dim)


def input_size(student: TactileViT) -> int:
    return int(student.encoder.config.image_size)


def save_student(student: TactileViT, directory: str | Path, config: StudentConfig, class_names: list[str],
                 extra: dict[str, Any] | None = None) -> None:
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    meta = {"student": asdict(config), "vit": student.encoder.config.to_dict(), "class_names": class_names,
            "feature_dim": getattr(student.projection, "out_features", student.hidden_size) if student.projection else None,
            **(extra or {})}
    (directory / STUDENT_FILE).write_text(json.dumps(meta, indent=2, default=str) + "\n")
    save_file({k: v.detach().contiguous() for k, v in student.state_dict().items()}, str(directory / WEIGHTS_FILE))


def load_encoder_weights(student: TactileViT, directory: str | Path) -> None:
    """Warm start: copy the encoder (and, where the shapes match, the projection) of a saved student."""
    donor, _ = load_student(directory)
    try:
        student.encoder.load_state_dict(donor.encoder.state_dict())
    except RuntimeError as exc:
        raise ValueError(f"--init-from {directory}: its encoder does not fit this student ({exc}); use the same "
                         "--size, --layers, --image-size and --patch-size") from None
    if (isinstance(student.projection, nn.Linear) and isinstance(donor.projection, nn.Linear)
            and student.projection.weight.shape == donor.projection.weight.shape):
        student.projection.load_state_dict(donor.projection.state_dict())


def load_student(directory: str | Path) -> tuple[TactileViT, dict[str, Any]]:
    """A student saved by :func:`save_student` (a run's ``model/`` folder)."""
    from safetensors.torch import load_file
    from transformers import ViTConfig, ViTModel

    directory = Path(directory)
    if (directory / "model" / STUDENT_FILE).is_file():
        directory = directory / "model"
    if not (directory / STUDENT_FILE).is_file():
        raise FileNotFoundError(f"{directory} holds no trained student ({STUDENT_FILE}); give a run directory "
                                "written by distill or finetune")
    meta = json.loads((directory / STUDENT_FILE).read_text())
    vit = ViTModel(ViTConfig.from_dict(meta["vit"]), add_pooling_layer=False)
    student = TactileViT(vit, len(meta["class_names"]), meta.get("feature_dim"))
    student.load_state_dict(load_file(str(directory / WEIGHTS_FILE)))
    return student.eval(), meta
