"""Frames of the simulated DIGIT: what the gel sees at the arm's latest pose and force.

The source is told the tool-centre pose and the measured normal force (in the node, from
``palpation/tcp_pose`` and ``palpation/wrench``, so it works across processes as the real
sensor and arm do); each frame looks up the object under the gel in the scene and renders
the contact with that sensor's renderer. Until a state arrives, frames show no contact.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tactile_material_ros.sensing.frame_source import FramePacer, SourceInfo
from tactile_material_ros.sim.digit_renderer import DigitRenderer
from tactile_material_ros.sim.scene import Scene
from tactile_material_ros.sim.sensor_variation import SensorVariation
from tactile_material_ros.sim.textures import texture_tile


@dataclass(frozen=True)
class ToolState:
    tcp_xyz_m: tuple[float, float, float]   # tool centre point (the gel surface) in the scene's frame
    tool_yaw_rad: float                     # rotation of the tool about the base Z axis
    force_n: float                          # normal force pressing the gel (>= 0)


def tool_yaw_rad(quaternion_xyzw: Sequence[float]) -> float:
    """Yaw about base Z of the tool's X axis, from the tool orientation (x, y, z, w) in the base frame.

    This is the angle ``Scene.contact_under`` takes. For a tool pointing straight down
    (``Rx(pi) Rz(a)``, the robot's convention) it is ``-a``.
    """
    x, y, z, w = (float(v) for v in quaternion_xyzw)
    norm = math.sqrt(x * x + y * y + z * z + w * w)
    if norm < 1e-9:
        raise ValueError("the tool orientation quaternion is zero; a pose needs a unit quaternion")
    x, y, z, w = x / norm, y / norm, z / norm, w / norm
    return math.atan2(2.0 * (x * y + w * z), 1.0 - 2.0 * (y * y + z * z))


def normal_force_n(force_xyz: Sequence[float]) -> float:
    """The force pressing the gel: the Z component's magnitude (tool and base Z are parallel for a
    tool pointing straight down, so this holds for a wrench in either frame)."""
    return abs(float(force_xyz[2]))


class SimSource:
    """A simulated DIGIT looking at ``scene`` from the arm's tool."""

    def __init__(self, renderer: DigitRenderer, scene: Scene, fps: float, seed: int | None = None,
                 variation: SensorVariation | None = None) -> None:
        """``variation``: how this sensor differs from the renderer's (default: the nominal sensor, whose
        contact strength is calibrated to real DIGIT presses, sim/sensor_variation.py)."""
        self.renderer = renderer
        self.variation = variation or SensorVariation()
        self._background = renderer.background()
        self.scene = scene
        self._pacer = FramePacer(fps)
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._state: ToolState | None = None
        rows, cols = renderer.shape_hw
        self._info = SourceInfo("sim", f"simulated DIGIT (background seed {renderer.background_seed}, scene "
                                f"{scene.source or 'built in'})", cols, rows, float(fps))

    @property
    def info(self) -> SourceInfo:
        return self._info

    def set_state(self, tcp_xyz: tuple[float, float, float] | np.ndarray, tool_yaw_rad: float, force_n: float) -> None:
        """The arm's latest tool pose and normal force (thread-safe; read by the next frame)."""
        x, y, z = (float(v) for v in tcp_xyz)
        with self._lock:
            self._state = ToolState((x, y, z), float(tool_yaw_rad), max(0.0, float(force_n)))

    def set_pose(self, tcp_xyz: tuple[float, float, float] | np.ndarray, tool_yaw_rad: float) -> None:
        """Update the pose, keeping the last force (a pose message carries no force)."""
        x, y, z = (float(v) for v in tcp_xyz)
        with self._lock:
            force = self._state.force_n if self._state is not None else 0.0
            self._state = ToolState((x, y, z), float(tool_yaw_rad), force)

    def set_force(self, force_n: float) -> None:
        """Update the force, keeping the last pose (a wrench message carries no pose; ignored before one)."""
        with self._lock:
            if self._state is not None:
                self._state = ToolState(self._state.tcp_xyz_m, self._state.tool_yaw_rad, max(0.0, float(force_n)))

    def render(self, state: ToolState | None) -> np.ndarray:
        """The frame the gel shows in ``state`` (None: nothing touching)."""
        if state is None:
            frame = self.renderer.no_contact(self._rng)
        else:
            contact = self.scene.contact_under(np.asarray(state.tcp_xyz_m), state.tool_yaw_rad)
            frame = self.renderer.render_scene_contact(contact, state.force_n, state.tool_yaw_rad, self._rng)
        return self.variation.apply(frame, self._background, self._rng)

    def open(self) -> None:
        """Make the scene's texture tiles now (up to ~0.5 s each), so the first press of an object does not stall
        the stream in the middle of its hold window."""
        for obj in self.scene.objects:
            texture_tile(self.renderer.library.get(obj.material).texture)

    def read(self) -> tuple[np.ndarray, float]:
        self._pacer.wait()
        with self._lock:
            state = self._state
        captured = time.time()
        return self.render(state), captured

    def close(self) -> None:
        """Nothing to release."""
