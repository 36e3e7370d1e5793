"""Training-time augmentation of background-subtracted frames: what differs between real sensors.

A real DIGIT (or another gel) differs from the next in how strongly a contact shows (gel
stiffness and thickness, LED brightness, camera gain), in the hue of its LEDs, in how sharp
its camera is and in its noise. A model that may lean on any of these learns the sensor,
not the material. So, per training frame, on the preprocessed difference image ``x`` (whose
no-contact value is ``z0``, see :func:`zero_level`):

- contact strength: ``z0 + g (x - z0)``, ``g`` log-uniform in ``strength`` (0.35-1.6 by
  default: the measured real/simulated contrast ratio lies inside, docs/sensor.md);
- LED hue: each channel's change times a gain in ``channel_gain`` (±25 %);
- camera blur: a Gaussian of σ up to ``max_blur_px`` on half the frames;
- noise: Gaussian of σ up to ``max_noise`` (in normalised units; 0.03 is 4 grey levels).

Nothing here moves or turns the image: texture direction relative to the tool is part of
what the routine's 90° second press shows.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from tactile_material_ros.inference.preprocessing import PreprocessConfig


@dataclass(frozen=True)
class PhotometricAugmentation:
    strength: tuple[float, float] = (0.35, 1.6)
    channel_gain: tuple[float, float] = (0.75, 1.25)
    max_blur_px: float = 1.2
    max_noise: float = 0.03

    def __post_init__(self) -> None:
        lo, hi = self.strength
        if not 0 < lo <= hi:
            raise ValueError(f"strength range {self.strength} must satisfy 0 < lo <= hi")
        if not 0 < self.channel_gain[0] <= self.channel_gain[1]:
            raise ValueError(f"channel_gain range {self.channel_gain} must satisfy 0 < lo <= hi")
        if self.max_blur_px < 0 or self.max_noise < 0:
            raise ValueError("max_blur_px and max_noise must be >= 0")


def zero_level(preprocessing: PreprocessConfig) -> torch.Tensor:
    """The normalised value of 'no change' per channel, (1, 3, 1, 1), in model channel order."""
    mean = torch.tensor(preprocessing.mean, dtype=torch.float32)
    std = torch.tensor(preprocessing.std, dtype=torch.float32)
    return ((0.5 - mean) / std).view(1, 3, 1, 1)


def _blur(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    radius = 3
    offsets = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (offsets[None] / sigma.clamp(min=1e-3)[:, None]) ** 2)
    kernel = kernel / kernel.sum(dim=1, keepdim=True)                        # (N, K)
    n, c, h, w = x.shape
    flat = x.reshape(1, n * c, h, w)
    k = kernel.repeat_interleave(c, dim=0)                                   # (N*C, K)
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="replicate"), k.view(n * c, 1, 1, -1), groups=n * c)
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="replicate"), k.view(n * c, 1, -1, 1), groups=n * c)
    return flat.view(n, c, h, w)


def augment(pixels: torch.Tensor, zero: torch.Tensor, config: PhotometricAugmentation,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """An augmented copy of a batch (N, 3, S, S) of preprocessed, background-subtracted frames."""
    x = pixels.float()
    n = x.shape[0]

    def uniform(lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(*shape, generator=generator)

    lo, hi = config.strength
    strength = torch.exp(uniform(float(torch.log(torch.tensor(lo))), float(torch.log(torch.tensor(hi))), n))
    gains = uniform(*config.channel_gain, n, 3)
    change = (x - zero) * (strength[:, None] * gains).view(n, 3, 1, 1)
    if config.max_blur_px > 0:
        sigma = uniform(0.0, config.max_blur_px, n) * (torch.rand(n, generator=generator) < 0.5)
        blurred = sigma > 0.05
        if blurred.any():
            change[blurred] = _blur(change[blurred], sigma[blurred])
    if config.max_noise > 0:
        change = change + torch.randn(x.shape, generator=generator) * uniform(0.0, config.max_noise, n).view(n, 1, 1, 1)
    return zero + change
