"""The camera's configuration (one validated, frozen object) and the source it opens.

The digit_camera_node builds a ``CameraConfig`` from its parameters; ``open_source`` looks
the source kind up in a registry and builds it. Every value is checked before any device is
touched, and a bad one raises one ``ValueError`` that names the parameter, the value, what is
allowed and how to fix it. Frame rates follow the DIGIT's streams for every source kind, so a
replay or a simulation streams as the sensor it stands in for would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tactile_material_ros.sensing.digit_source import DIGIT_STREAMS, INTENSITY_RANGE, DigitSource
from tactile_material_ros.sensing.frame_source import FrameSource
from tactile_material_ros.sensing.replay_source import ReplaySource
from tactile_material_ros.sim.digit_renderer import DEFAULT_NOISE_SIGMA

SOURCE_KINDS = ("digit", "replay", "sim")
MAX_NOISE_SIGMA = 50.0


@dataclass(frozen=True)
class CameraConfig:
    source: str = "sim"              # digit | replay | sim
    serial: str = ""                 # DIGIT serial (source digit), e.g. D20001
    resolution: str = "QVGA"         # QVGA (240x320 portrait) | VGA (480x640)
    fps: int = 30                    # QVGA: 60 or 30; VGA: 30 or 15
    intensity: int = 15              # DIGIT LED intensity 0..15
    replay_path: str = ""            # folder of frames, a video or a rosbag2 bag (source replay)
    replay_rate_hz: float = 0.0      # replay rate; 0: the stream's fps
    scene_path: str = ""             # scene YAML (source sim); empty: the package's four-ball scene
    background_seed: int = 0         # which simulated sensor (source sim)
    noise_sigma: float = DEFAULT_NOISE_SIGMA  # simulated sensor noise [grey levels]
    frame_id: str = "digit_link"
    reference_path: str = "digit_reference.png"  # where digit/capture_reference saves the no-contact frame

    def __post_init__(self) -> None:
        if self.source not in SOURCE_KINDS:
            raise ValueError(f"source = {self.source!r} is not a known frame source; allowed: "
                             f"{', '.join(SOURCE_KINDS)}. Fix: set source to one of them.")
        if self.resolution not in DIGIT_STREAMS:
            raise ValueError(f"resolution = {self.resolution!r} is not a DIGIT stream; allowed: "
                             f"{', '.join(DIGIT_STREAMS)}. Fix: set resolution to QVGA (default) or VGA.")
        rates = DIGIT_STREAMS[self.resolution][1]
        if self.fps not in rates:
            others = "; ".join(f"{name}: {', '.join(map(str, r))}" for name, (_, r) in DIGIT_STREAMS.items())
            raise ValueError(f"fps = {self.fps} is not a DIGIT {self.resolution} frame rate; allowed for "
                             f"{self.resolution}: {', '.join(map(str, rates))} ({others}). Fix: set fps to one of them.")
        lo, hi = INTENSITY_RANGE
        if not lo <= self.intensity <= hi:
            raise ValueError(f"intensity = {self.intensity} is outside the allowed range [{lo}, {hi}] "
                             "(DIGIT LED intensity). Fix: set intensity between them (15: full brightness).")
        if self.source == "digit" and not self.serial.strip():
            raise ValueError("serial is empty, but source is 'digit'. Fix: set serial to the number printed on "
                             "the back of the DIGIT (e.g. D20001); `python -c \"from digit_interface import "
                             "DigitHandler; print(DigitHandler.list_digits())\"` lists the connected ones.")
        if self.source == "replay" and not Path(self.replay_path).exists():
            raise ValueError(f"replay_path = {self.replay_path!r} does not exist, but source is 'replay'. Fix: "
                             "set replay_path to a folder of frames, a video file or a rosbag2 bag.")
        if not 0.0 <= self.replay_rate_hz <= 240.0:
            raise ValueError(f"replay_rate_hz = {self.replay_rate_hz} is outside the allowed range [0, 240] Hz "
                             "(0: the stream's fps). Fix: set it within the range.")
        if self.source == "sim" and self.scene_path and not Path(self.scene_path).is_file():
            raise ValueError(f"scene_path = {self.scene_path!r} is not a file. Fix: give a scene YAML "
                             "(see config/scene_four_balls.yaml) or leave it empty for the default scene.")
        if self.background_seed < 0:
            raise ValueError(f"background_seed = {self.background_seed} is outside the allowed range [0, 2^31). "
                             "Fix: use a non-negative integer.")
        if not 0.0 <= self.noise_sigma <= MAX_NOISE_SIGMA:
            raise ValueError(f"noise_sigma = {self.noise_sigma} is outside the allowed range [0, {MAX_NOISE_SIGMA}] "
                             "grey levels. Fix: set it within the range (real DIGITs: about 2).")
        if not self.frame_id.strip():
            raise ValueError("frame_id is empty. Fix: set it to the sensor's TF frame (default digit_link).")
        if not self.reference_path.strip():
            raise ValueError("reference_path is empty. Fix: set it to a PNG path for the no-contact reference.")

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of a portrait frame."""
        rows, cols = DIGIT_STREAMS[self.resolution][0]
        return cols, rows

    @property
    def rate_hz(self) -> float:
        """The rate frames are produced at."""
        if self.source == "replay" and self.replay_rate_hz > 0:
            return self.replay_rate_hz
        return float(self.fps)


def _digit(config: CameraConfig) -> FrameSource:
    return DigitSource(config.serial, config.resolution, config.fps, config.intensity)


def _replay(config: CameraConfig) -> FrameSource:
    return ReplaySource(config.replay_path, config.rate_hz)


def _sim(config: CameraConfig) -> FrameSource:
    # the renderer and scene are imported only when simulating
    from tactile_material_ros.sensing.sim_source import SimSource
    from tactile_material_ros.sim.digit_renderer import DigitRenderer
    from tactile_material_ros.sim.scene import load_scene

    scene = load_scene(config.scene_path or None)
    renderer = DigitRenderer(scene.library, config.resolution, config.background_seed, config.noise_sigma)
    return SimSource(renderer, scene, config.rate_hz)


SOURCES: dict[str, Callable[[CameraConfig], FrameSource]] = {"digit": _digit, "replay": _replay, "sim": _sim}


def make_source(config: CameraConfig) -> FrameSource:
    """The (unopened) frame source ``config`` describes."""
    return SOURCES[config.source](config)
