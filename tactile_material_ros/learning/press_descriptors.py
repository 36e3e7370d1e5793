"""Hand-made descriptors of a press, computed from the model's own preprocessed input inside the graph.

`enrol` (learning/enrol.py) puts this module into the exported ONNX graph beside the encoder,
so an enrolled model is still one file fed by the one preprocessing function. Only fixed
kernels, comparisons, soft binning and means, which export to ONNX. From the input
``x`` (N, 3, S, S) the module recovers the colour change ``d`` (``x·std + mean - 0.5`` for a
background-subtracted model: the frame minus the no-contact reference, in [-0.5, 0.5]), removes
its per-channel mean (a global LED or exposure shift), brings it to 112 px (average pooling; a smaller input is upsampled) and
takes, with ``m`` the colour-vector length of ``d``, ``mb`` that blurred (σ 2 px), the strength
``s`` = max ``mb`` and the contact mask ``w`` = sigmoid((mb / s - 0.3) / 0.05):

=============  =====  ======================================================================
block          size   what
=============  =====  ======================================================================
``histogram``  68     the square roots (Hellinger) of, over the whole frame: per channel, a soft
                      histogram of ``d`` in grey levels (16 bins over ±64); of the grey change's
                      log gradient magnitude (12 bins); of its orientation (8 bins, weighted by
                      magnitude). Absolute, not relative to the press: on one sensor how strongly a
                      material shows is part of what it is
``colour``     33     per channel, a soft histogram (9 triangular bins over [-1, 1]) of
                      ``d / s`` inside ``w``; the mean and mean |·| of ``d / s`` inside ``w``
``gradient``   72     at 112, 56 and 28 px: the orientation histogram (8 bins over [0, π),
                      magnitude-weighted, cos⁴ soft bins) of the grey change, the same sorted
                      (turn-invariant), and a soft histogram of log(|∇| / s) (8 bins)
``texture``    9      log share of each band's energy (σ < 1, 1-2, 2-4, 4-8 px) in ``w`` and
                      over the frame; log of the total energy / s²
``shape``      7      log ``s``, log area of ``mb / s`` above 0.15, 0.3, 0.5; fill (mean ``m`` in
                      ``w`` / ``s``); anisotropy and spread of ``w``'s second moments
``pattern``    168    turn-invariant local binary patterns of the grey change and of each colour
                      channel's change, at 112, 56, 28 px: soft histograms (inside ``w``) of how
                      many of a pixel's 8 neighbours are brighter (9 bins) and of how often that
                      switches round the circle (5 bins)
=============  =====  ======================================================================
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from tactile_material_ros.inference.preprocessing import PreprocessConfig

WORK_SIZE = 112
BLOCKS: dict[str, int] = {"histogram": 68, "colour": 33, "gradient": 72, "texture": 9, "shape": 7, "pattern": 168}
GREY_LEVEL = 1.0 / 255.0
_EPS = 1e-6


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    radius = max(1, int(math.ceil(3 * sigma)))
    x = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def _soft_histogram(values: torch.Tensor, weights: torch.Tensor, centres: torch.Tensor, width: float) -> torch.Tensor:
    """(N, K): weighted share of ``values`` (N, P) near each centre (triangular kernels of half-width ``width``)."""
    member = torch.relu(1.0 - (values.unsqueeze(-1) - centres).abs() / width)   # (N, P, K)
    total = weights.sum(dim=1, keepdim=True) + _EPS
    return (member * weights.unsqueeze(-1)).sum(dim=1) / total


class PressDescriptors(nn.Module):
    """x (N, 3, S, S), preprocessed by ``preprocessing`` -> descriptors (N, sum(BLOCKS.values()))."""

    def __init__(self, preprocessing: PreprocessConfig) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(preprocessing.mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(preprocessing.std, dtype=torch.float32).view(1, 3, 1, 1))
        self.offset = 0.5 if preprocessing.subtract_background else 0.0
        self.size = preprocessing.image_size
        for name, sigma in (("g1", 1.0), ("g2", 2.0), ("g4", 4.0), ("g8", 8.0)):
            kernel = _gaussian_kernel(sigma)
            self.register_buffer(name + "x", kernel.view(1, 1, 1, -1))
            self.register_buffer(name + "y", kernel.view(1, 1, -1, 1))
        sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8.0
        self.register_buffer("sobel", torch.stack([sobel, sobel.T]).unsqueeze(1))     # (2, 1, 3, 3)
        angles = torch.arange(8, dtype=torch.float32) * math.pi / 8
        self.register_buffer("cos2", torch.cos(2 * angles))
        self.register_buffer("sin2", torch.sin(2 * angles))
        self.register_buffer("colour_bins", torch.linspace(-1.0, 1.0, 9))
        neighbours = torch.zeros(8, 1, 3, 3)
        for k, (r, c) in enumerate(((0, 0), (0, 1), (0, 2), (1, 2), (2, 2), (2, 1), (2, 0), (1, 0))):
            neighbours[k, 0, r, c] = 1.0
            neighbours[k, 0, 1, 1] = -1.0
        self.register_buffer("neighbours", neighbours)                                # (8, 1, 3, 3), in circle order
        self.register_buffer("count_bins", torch.arange(9, dtype=torch.float32))
        self.register_buffer("switch_bins", torch.linspace(0.0, 8.0, 5))
        self.register_buffer("log_bins", torch.linspace(-6.0, 0.0, 8))
        self.register_buffer("grey_bins", torch.linspace(-64.0, 64.0, 16) * GREY_LEVEL)
        self.register_buffer("abs_log_bins", torch.linspace(-9.0, -2.0, 12))

    def _blur(self, image: torch.Tensor, name: str) -> torch.Tensor:
        """Separable Gaussian blur of a one-channel image (N, 1, H, W) with the kernel ``name`` (g1 ... g8)."""
        kx, ky = getattr(self, name + "x"), getattr(self, name + "y")
        r = kx.shape[-1] // 2
        return F.conv2d(F.conv2d(image, kx, padding=(0, r)), ky, padding=(r, 0))

    def _change(self, x: torch.Tensor) -> torch.Tensor:
        d = x * self.std + self.mean - self.offset
        d = d - d.mean(dim=(2, 3), keepdim=True)
        if self.size != WORK_SIZE:
            d = F.interpolate(d, size=(WORK_SIZE, WORK_SIZE), mode="bilinear", align_corners=False,
                              antialias=False) if self.size < WORK_SIZE else F.adaptive_avg_pool2d(d, WORK_SIZE)
        return d

    def _gradient_block(self, grey: torch.Tensor, mask: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
        parts = []
        for _ in range(3):
            g = F.conv2d(grey, self.sobel, padding=1)              # (N, 2, H, W)
            gx, gy = g[:, 0].flatten(1), g[:, 1].flatten(1)
            power = gx * gx + gy * gy + _EPS
            magnitude = torch.sqrt(power)
            c2, s2 = (gx * gx - gy * gy) / power, 2 * gx * gy / power
            agree = (1 + c2.unsqueeze(-1) * self.cos2 + s2.unsqueeze(-1) * self.sin2) / 2   # (N, P, 8)
            weight = magnitude * mask.flatten(1)
            orientation = (agree ** 4 * weight.unsqueeze(-1)).sum(1) / (weight.sum(1, keepdim=True) + _EPS)
            orientation = orientation / (orientation.sum(1, keepdim=True) + _EPS)
            ordered = torch.sort(orientation, dim=1, descending=True).values
            log_magnitude = torch.log(magnitude / strength + _EPS)
            parts += [orientation, ordered, _soft_histogram(log_magnitude, mask.flatten(1), self.log_bins, 0.75)]
            grey, mask = F.avg_pool2d(grey, 2), F.avg_pool2d(mask, 2)
        return torch.cat(parts, dim=1)

    def _histogram_block(self, d: torch.Tensor) -> torch.Tensor:
        flat = d.flatten(2)
        ones = torch.ones_like(flat[:, 0])
        spacing = 128.0 / 15 * GREY_LEVEL
        parts = [_soft_histogram(flat[:, c], ones, self.grey_bins, spacing) for c in range(3)]
        g = F.conv2d(d.mean(1, keepdim=True), self.sobel, padding=1)
        gx, gy = g[:, 0].flatten(1), g[:, 1].flatten(1)
        power = gx * gx + gy * gy + 1e-12
        magnitude = torch.sqrt(power)
        parts.append(_soft_histogram(torch.log(magnitude), ones, self.abs_log_bins, 7.0 / 11))
        agree = (1 + ((gx * gx - gy * gy) / power).unsqueeze(-1) * self.cos2
                 + (2 * gx * gy / power).unsqueeze(-1) * self.sin2) / 2
        orientation = (agree ** 4 * magnitude.unsqueeze(-1)).sum(1)
        parts.append(orientation / (orientation.sum(1, keepdim=True) + _EPS))
        return torch.sqrt(torch.cat(parts, dim=1) + _EPS)

    def _pattern_block(self, image: torch.Tensor, mask: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
        """Turn-invariant local binary patterns (Ojala et al., "Multiresolution gray-scale and rotation invariant
        texture classification with local binary patterns", TPAMI 2002), soft, of a one-channel ``image``: per
        pixel, how many of its 8 neighbours are brighter (sigmoid of the difference over 2 % of the press
        strength) and how often that switches round the circle; their histograms inside the contact at 112,
        56 and 28 px."""
        parts = []
        for _ in range(3):
            brighter = torch.sigmoid(F.conv2d(image, self.neighbours, padding=1) / (0.02 * strength.view(-1, 1, 1, 1)))
            count = brighter.sum(1).flatten(1)
            switches = (brighter - torch.roll(brighter, 1, dims=1)).abs().sum(1).flatten(1)
            w = mask.flatten(1)
            parts += [_soft_histogram(count, w, self.count_bins, 1.0), _soft_histogram(switches, w, self.switch_bins, 2.0)]
            image, mask = F.avg_pool2d(image, 2), F.avg_pool2d(mask, 2)
        return torch.cat(parts, dim=1)

    def _texture_block(self, grey: torch.Tensor, mask: torch.Tensor, strength: torch.Tensor) -> torch.Tensor:
        blurred = [grey] + [self._blur(grey, k) for k in ("g1", "g2", "g4", "g8")]
        bands = [(blurred[i] - blurred[i + 1]) ** 2 for i in range(4)]
        inside = torch.stack([(b * mask).sum((1, 2, 3)) / (mask.sum((1, 2, 3)) + _EPS) for b in bands], 1) + 1e-8
        overall = torch.stack([b.mean((1, 2, 3)) for b in bands], 1) + 1e-8
        total = overall.sum(1, keepdim=True)
        return torch.cat([torch.log(inside / inside.sum(1, keepdim=True)), torch.log(overall / total),
                          torch.log(total / strength ** 2)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self._change(x)
        magnitude = torch.sqrt((d * d).sum(1, keepdim=True) + _EPS)        # (N, 1, H, W)
        blurred = self._blur(magnitude, "g2")
        strength = blurred.flatten(1).amax(1).view(-1, 1) + 1e-4           # (N, 1)
        relative = blurred / strength.view(-1, 1, 1, 1)
        mask = torch.sigmoid((relative - 0.3) / 0.05)
        w = mask.flatten(1)
        normalised = (d / strength.view(-1, 1, 1, 1)).flatten(2)            # (N, 3, P)
        w_sum = w.sum(1, keepdim=True) + _EPS
        colour = [_soft_histogram(normalised[:, c], w, self.colour_bins, 0.25) for c in range(3)]
        colour += [(normalised * w.unsqueeze(1)).sum(2) / w_sum, (normalised.abs() * w.unsqueeze(1)).sum(2) / w_sum]
        grey = d.mean(1, keepdim=True)
        areas = [torch.log(torch.sigmoid((relative - t) / 0.05).flatten(1).mean(1, keepdim=True) + 1e-3)
                 for t in (0.15, 0.3, 0.5)]
        fill = (magnitude.flatten(1) * w).sum(1, keepdim=True) / w_sum / strength
        side = torch.linspace(-1.0, 1.0, WORK_SIZE, device=x.device)
        yy, xx = side.view(1, -1, 1).expand(1, WORK_SIZE, WORK_SIZE).flatten(1), side.view(1, 1, -1).expand(
            1, WORK_SIZE, WORK_SIZE).flatten(1)
        mx, my = (w * xx).sum(1, keepdim=True) / w_sum, (w * yy).sum(1, keepdim=True) / w_sum
        a = (w * (xx - mx) ** 2).sum(1, keepdim=True) / w_sum
        c = (w * (yy - my) ** 2).sum(1, keepdim=True) / w_sum
        b = (w * (xx - mx) * (yy - my)).sum(1, keepdim=True) / w_sum
        anisotropy = torch.sqrt((a - c) ** 2 + 4 * b * b + _EPS) / (a + c + _EPS)
        shape = [torch.log(strength)] + areas + [fill, anisotropy, torch.log(a + c + _EPS)]
        return torch.cat([self._histogram_block(d)] + colour + [self._gradient_block(grey, mask, strength),
                                   self._texture_block(grey, mask, strength)] + shape
                         + [self._pattern_block(image, mask, strength) for image in (grey, d[:, 0:1], d[:, 1:2],
                                                                                     d[:, 2:3])], dim=1)
