"""Grad-CAM for the ViT student (Selvaraju et al., "Grad-CAM", ICCV 2017).

For a chosen layer (default: the last block's input norm), its output tokens are turned into
a patch grid by :func:`vit_reshape_transform` (CLS dropped), each channel is weighted by
:meth:`GradCAM.channel_weights` (Grad-CAM: the spatial mean of the target logit's gradient;
override it for variants), and the ReLU of the weighted sum is upsampled to the input size and
scaled to [0, 1]. Hooks exist only inside ``with GradCAM(...) as cam:``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tactile_material_ros.learning.students import TactileViT


def vit_reshape_transform(tokens: torch.Tensor) -> torch.Tensor:
    """(B, 1 + h*w, D) ViT tokens -> (B, D, h, w) patch grid; the CLS token is dropped."""
    patches = tokens[:, 1:]
    side = math.isqrt(patches.shape[1])
    if side * side != patches.shape[1]:
        raise ValueError(f"{patches.shape[1]} patch tokens do not form a square grid")
    return patches.reshape(tokens.shape[0], side, side, tokens.shape[2]).permute(0, 3, 1, 2)


def last_block(student: TactileViT) -> nn.Module:
    """The encoder's last transformer block (transformers >= 5: ``layers``; before: ``encoder.layer``)."""
    encoder = student.encoder
    blocks = encoder.layers if hasattr(encoder, "layers") else encoder.encoder.layer
    return blocks[-1]


def default_target_layer(student: TactileViT) -> nn.Module:
    """The last block's input norm. The head reads only the CLS token, so the patch tokens at the
    last block's *output* get no gradient; at its input they reach CLS through attention."""
    return last_block(student).layernorm_before


def _tensor(output: Any) -> torch.Tensor:
    return output[0] if isinstance(output, tuple) else output


class GradCAM:
    def __init__(self, student: TactileViT, layer: nn.Module | None = None, reshape_transform=vit_reshape_transform) -> None:
        self.student = student
        self.layer = layer if layer is not None else default_target_layer(student)
        self.reshape_transform = reshape_transform
        self._handles: list[Any] = []
        self.activations: torch.Tensor | None = None
        self.gradients: torch.Tensor | None = None

    def __enter__(self) -> GradCAM:
        self._handles.append(self.layer.register_forward_hook(self._keep))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _keep(self, module: nn.Module, inputs: Any, output: Any) -> None:
        tokens = _tensor(output)
        self.activations = tokens
        tokens.register_hook(self._keep_gradient)

    def _keep_gradient(self, grad: torch.Tensor) -> None:
        self.gradients = grad

    def channel_weights(self, activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
        """(B, D) weight per channel; Grad-CAM's: gradients averaged over the grid. Override for variants."""
        return gradients.mean(dim=(2, 3))

    def __call__(self, pixel_values: torch.Tensor, target: int | list[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(maps (B, H, W) in [0, 1], logits (B, C)); ``target`` defaults to each image's predicted class."""
        if not self._handles:
            raise RuntimeError("use GradCAM inside a `with` block (it registers and removes its hooks there)")
        self.student.eval()
        with torch.enable_grad():
            pixels = pixel_values.detach().float().requires_grad_(True)
            logits = self.student(pixels).logits
            classes = logits.argmax(-1) if target is None else torch.as_tensor(
                [target] * len(pixels) if isinstance(target, int) else target)
            self.student.zero_grad(set_to_none=True)
            logits.gather(1, classes.view(-1, 1)).sum().backward()
        grid = self.reshape_transform(self.activations.detach())
        grads = self.reshape_transform(self.gradients)
        weights = self.channel_weights(grid, grads)
        cam = F.relu((weights[:, :, None, None] * grid).sum(1, keepdim=True))
        cam = F.interpolate(cam, size=pixel_values.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
        low = cam.flatten(1).min(1).values[:, None, None]
        high = cam.flatten(1).max(1).values[:, None, None]
        return (cam - low) / (high - low).clamp_min(1e-12), logits.detach()
