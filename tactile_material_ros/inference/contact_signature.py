"""A contact's physical signature: a few numbers that say how strong, how large and how textured it is.

The familiarity check (:mod:`familiarity`) compares a frame's signature with the signatures
of the frames the model was trained on, class by class. The network's own features cannot
do this alone: a network trained to tell materials apart maps a faint, unfamiliar contact
close to some class (measured on real DIGIT presses, docs/classifier.md), so an input unlike
its training data can look typical to it. These numbers are computed from the pixels and
do not collapse that way.

Both frames are oriented portrait and brought to a canonical 120 x 160 px (area
interpolation), so frames of any resolution or sensor give comparable numbers. On the
difference ``d = frame - reference`` (per-channel median removed, so a global LED or exposure
shift does not count), with ``m`` its colour-vector length and ``mb`` that blurred (σ 2 px):

======================  =====================================================================
``log_strength``        log(1 + 99.5th percentile of ``mb``): how hard the gel is pushed
``log_area``            log of the share of the frame where ``mb`` exceeds 30 % of that
``fill``                mean ``m`` in that area / the percentile: a full disc vs a thin rim
``log_blue_green``      log of the mean |blue| / |green| change in the area (LED geometry)
``log_red_green``       log of the mean |red| / |green| change in the area
``log_texture_fine``    log energy of the fine band (σ < 1.5 px) / the coarse shape (σ > 4 px)
``log_texture_mid``     log energy of the middle band (1.5-4 px) / the coarse shape
``log_noise``           log of the robust σ of the fine band over the frame: the camera's noise
``noise_neighbour_corr``  correlation between horizontal neighbours of the frame's finest band
                        (the frame minus its σ 1 px blur) where it changed least (its quietest
                        15 %, away from the contact): how the camera's noise is structured
``noise_channel_corr``  mean correlation of that band between the colour channels there
======================  =====================================================================

The last two tell one camera from another. The simulated camera's noise is white:
independent per pixel and channel. A real camera's is not: demosaicing spreads it across
neighbouring pixels and colours, and MJPEG (which DIGIT and GelSight Mini stream) compresses it
in blocks. So a model trained on simulated sensors only finds a real camera unfamiliar until
it is taught on that camera's frames (docs/classifier.md).
"""

from __future__ import annotations

import cv2
import numpy as np

SIGNATURE_NAMES = ("log_strength", "log_area", "fill", "log_blue_green", "log_red_green",
                   "log_texture_fine", "log_texture_mid", "log_noise", "noise_neighbour_corr", "noise_channel_corr")
CANONICAL_SIZE = (120, 160)  # (width, height) of the portrait frame the numbers are computed on
_AREA_FRACTION = 0.3
_EPS = 1e-3


def _canonical(image: np.ndarray) -> np.ndarray:
    if image.shape[1] > image.shape[0]:
        image = image.transpose(1, 0, 2)
    return cv2.resize(image, CANONICAL_SIZE, interpolation=cv2.INTER_AREA).astype(np.float32)


def contact_signature(frame: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """The signature (len(SIGNATURE_NAMES),) float64 of ``frame`` against the sensor's no-contact ``reference``."""
    if frame.shape != reference.shape:
        raise ValueError(f"frame {frame.shape} and reference {reference.shape} differ in shape: "
                         "use the no-contact frame of the same sensor at the same resolution")
    d = _canonical(frame) - _canonical(reference)
    d -= np.median(d.reshape(-1, 3), axis=0)
    m = np.linalg.norm(d, axis=2)
    mb = cv2.GaussianBlur(m, (0, 0), 2.0)
    strength = float(np.percentile(mb, 99.5))
    area = mb > _AREA_FRACTION * strength
    if not area.any():
        area = mb >= mb.max()
    fine = d - cv2.GaussianBlur(d, (0, 0), 1.5)
    coarse = cv2.GaussianBlur(d, (0, 0), 4.0)
    middle = cv2.GaussianBlur(d, (0, 0), 1.5) - coarse
    in_area = area[..., None]
    e_coarse = float((coarse ** 2 * in_area).sum() / in_area.sum()) + _EPS
    e_fine = float((fine ** 2 * in_area).sum() / in_area.sum()) + _EPS
    e_mid = float((middle ** 2 * in_area).sum() / in_area.sum()) + _EPS
    channel = np.abs(d[area]).mean(axis=0) + _EPS  # B, G, R
    noise = 1.4826 * float(np.median(np.abs(fine - np.median(fine))))
    raw = _canonical(frame)
    neighbour, across = _noise_structure(raw - cv2.GaussianBlur(raw, (0, 0), 1.0), mb)
    return np.array([
        np.log1p(strength),
        np.log(area.mean() + _EPS),
        float(m[area].mean()) / max(strength, _EPS),
        np.log(channel[0] / channel[1]),
        np.log(channel[2] / channel[1]),
        np.log(e_fine / e_coarse),
        np.log(e_mid / e_coarse),
        np.log(noise + 0.1),
        neighbour,
        across,
    ], dtype=np.float64)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    return float((a * b).sum() / max(np.sqrt((a * a).sum() * (b * b).sum()), _EPS))


def _noise_structure(fine: np.ndarray, change: np.ndarray) -> tuple[float, float]:
    """Neighbour and cross-channel correlation of the frame's finest band where it changed least (its
    quietest 15 %, away from the contact)."""
    quiet = change <= np.percentile(change, 15)
    pairs = quiet[:, 1:] & quiet[:, :-1]
    neighbour = float(np.mean([_corr(fine[:, 1:, c][pairs], fine[:, :-1, c][pairs]) for c in range(3)]))
    q = fine[quiet]
    channel = float(np.mean([_corr(q[:, 0], q[:, 1]), _corr(q[:, 0], q[:, 2]), _corr(q[:, 1], q[:, 2])]))
    return neighbour, channel
