"""The one preprocessing function: tactile frame -> model input.

Training, evaluation, export parity checks, `tactile-material classify` and the classifier
node all call :func:`preprocess`; its parameters travel in the model card
(``PreprocessConfig.to_dict`` / ``from_dict``), so a model is always fed the way it was trained.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import cv2
import numpy as np

PORTRAIT_QVGA = (320, 240)  # (height, width) of a DIGIT frame as Digit.get_frame() returns it


class FrameError(ValueError):
    """A frame (or reference) cannot be turned into model input."""


@dataclass(frozen=True)
class PreprocessConfig:
    """How a BGR DIGIT frame becomes a normalised RGB tensor of shape (3, size, size)."""

    image_size: int = 112
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)
    subtract_background: bool = True
    # frames arrive portrait (H > W); a landscape frame (a DIGIT read with transpose=False) is
    # transposed to portrait first so the model always sees one orientation
    orientation: str = "portrait"
    channel_order: str = "rgb"
    extra: dict[str, str] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not 16 <= self.image_size <= 1024:
            raise ValueError(f"image_size must be in [16, 1024] px, got {self.image_size}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError(f"mean and std need 3 values each, std > 0; got mean={self.mean} std={self.std}")
        if self.orientation not in ("portrait", "as_is"):
            raise ValueError(f"orientation must be 'portrait' or 'as_is', got {self.orientation!r}")
        if self.channel_order not in ("rgb", "bgr"):
            raise ValueError(f"channel_order must be 'rgb' or 'bgr', got {self.channel_order!r}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        d.pop("extra")
        return d

    def describe_shape_handling(self) -> str:
        """How a frame of any shape becomes the model's square input (written into the model card)."""
        turn = ("a landscape frame (wider than tall: a GelSight Mini's 320x240, a DIGIT read with "
                "transpose=False) is transposed to portrait first; " if self.orientation == "portrait" else "")
        return (f"{turn}the whole frame (and its reference, which must have the frame's size) is resized to "
                f"{self.image_size}x{self.image_size} px with area interpolation, the aspect ratio not kept")

    @classmethod
    def from_dict(cls, raw: dict) -> PreprocessConfig:
        known = {k: raw[k] for k in ("image_size", "subtract_background", "orientation", "channel_order") if k in raw}
        return cls(mean=tuple(raw.get("mean", (0.5, 0.5, 0.5))), std=tuple(raw.get("std", (0.5, 0.5, 0.5))), **known)


def _orient(frame: np.ndarray, config: PreprocessConfig) -> np.ndarray:
    if config.orientation == "portrait" and frame.shape[1] > frame.shape[0]:
        return np.ascontiguousarray(frame.transpose(1, 0, 2))
    return frame


def _check_frame(frame: np.ndarray, what: str) -> None:
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        shape = getattr(frame, "shape", None)
        dtype = getattr(frame, "dtype", type(frame).__name__)
        raise FrameError(f"{what} must be a uint8 HxWx3 BGR image, got shape {shape} dtype {dtype}")
    if min(frame.shape[:2]) < 8:
        raise FrameError(f"{what} is too small: {frame.shape[1]}x{frame.shape[0]} px")


def preprocess(
    frames: np.ndarray | list[np.ndarray],
    config: PreprocessConfig,
    reference: np.ndarray | None = None,
) -> np.ndarray:
    """Turn one frame (H, W, 3) or several into model input, float32 (N, 3, size, size).

    With ``config.subtract_background`` the no-contact ``reference`` of the same sensor is
    subtracted first (difference mapped to [0, 1] around 0.5), which removes the sensor's own
    LED gradient; without a reference that step is refused rather than silently skipped.
    """
    batch = [frames] if isinstance(frames, np.ndarray) and frames.ndim == 3 else list(frames)
    if config.subtract_background:
        if reference is None:
            raise FrameError("this model expects background-subtracted input: give the sensor's no-contact "
                             "reference frame (e.g. --reference NO_CONTACT.png, or capture one with nothing touching)")
        _check_frame(reference, "reference frame")
        ref = _orient(reference, config)
    out = np.empty((len(batch), 3, config.image_size, config.image_size), dtype=np.float32)
    mean = np.asarray(config.mean, dtype=np.float32)
    std = np.asarray(config.std, dtype=np.float32)
    size = (config.image_size, config.image_size)
    for i, frame in enumerate(batch):
        _check_frame(frame, "frame")
        frame = _orient(frame, config)
        if config.subtract_background:
            if frame.shape != ref.shape:
                raise FrameError(f"frame {frame.shape[1]}x{frame.shape[0]} and reference {ref.shape[1]}x{ref.shape[0]} "
                                 "differ in size: capture the reference at the frame's resolution")
            img = (frame.astype(np.float32) - ref.astype(np.float32)) / 255.0 + 0.5
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        else:
            img = cv2.resize(frame, size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        if config.channel_order == "rgb":
            img = img[:, :, ::-1]
        out[i] = ((img - mean) / std).transpose(2, 0, 1)
    return out
