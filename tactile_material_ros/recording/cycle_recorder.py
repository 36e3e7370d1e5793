"""Which of a sensor's and an arm's messages make up one palpation cycle: the recorder's logic, no ROS.

:class:`CycleRecorder` is fed the same events as the classifier (frames, palpation states,
presses, and the arm's wrench and pose) and returns a :class:`RecordedCycle` when a cycle ends,
for :class:`PalpationBagWriter` to write. A cycle runs from ``approaching`` to ``done`` (or a
``fault``). What it keeps:

- the **reference**: the median of the first ``reference_frames`` frames after ``approaching``
  (the arm is above the object, nothing touches the gel), as the classifier takes it;
- the **frames of each hold window**: a press (stamp = the moment the force settled) opens a
  window ``[stamp, stamp + hold_window_s]`` that the state ``retracting`` cuts short; frames are
  kept by capture stamp, so frames that arrive before the press message (a short buffer holds
  them) or after the window closed still count;
- every state, press, wrench and pose sample of the cycle;
- the **target and label**: the label the user set, else the material that the scene gives the
  object under the tool at the first press (``label_source`` says which).

Thread-safe: the CLI feeds frames from a camera thread and events from the routine's thread.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass

import numpy as np

from tactile_material_ros.inference.live_classifier import ReferenceFrame
from tactile_material_ros.recording.palpation_bag import PoseQ, RecordedCycle, StampedImage, Wrench
from tactile_material_ros.sim.scene import Scene

log = logging.getLogger(__name__)

NEAREST_OBJECT_M = 0.05      # a press this close to an object's top (in x, y) is taken to be on it
FRAME_BUFFER_S = 2.0         # frames kept before their press message arrives


@dataclass(frozen=True)
class RecorderConfig:
    """What the recorder keeps; field names are the recorder node's parameter names."""

    label: str = ""                 # the class of whatever is pressed next ("": the scene's material)
    sensor_serial: str = ""
    hold_window_s: float = 2.0      # longest hold window kept after a press (the state retracting ends it)
    reference_frames: int = 5

    def __post_init__(self) -> None:
        if not 0.02 <= self.hold_window_s <= 10.0:
            raise ValueError(f"hold_window_s = {self.hold_window_s} is outside [0.02, 10.0] s (the longest hold "
                             "window kept after each press; `retracting` ends it earlier)")
        if not 1 <= self.reference_frames <= 120:
            raise ValueError(f"reference_frames = {self.reference_frames} is outside [1, 120] (frames whose median "
                             "is the no-contact reference)")
        if self.label != self.label.strip() or "," in self.label:
            raise ValueError(f"label = {self.label!r}: a class name has no commas and no surrounding spaces")


def object_under(scene: Scene, position: tuple[float, float, float]) -> tuple[str, str]:
    """(name, material) of the scene object at ``position``'s x, y (or whose top is nearest, within
    NEAREST_OBJECT_M); ("", "") when none is."""
    x, y = position[0], position[1]
    for obj in scene.objects:
        if obj.surface_z(x, y) is not None:
            return obj.name, obj.material
    nearest = min(scene.objects, key=lambda o: float(np.hypot(o.top_m[0] - x, o.top_m[1] - y)), default=None)
    if nearest is not None and float(np.hypot(nearest.top_m[0] - x, nearest.top_m[1] - y)) <= NEAREST_OBJECT_M:
        return nearest.name, nearest.material
    return "", ""


class CycleRecorder:
    def __init__(self, config: RecorderConfig, scene: Scene | None = None) -> None:
        self.config = config
        self.scene = scene
        self.label = config.label          # may change between cycles (the node's parameter)
        self._lock = threading.Lock()
        self._buffer: deque[StampedImage] = deque()
        self._cycle: RecordedCycle | None = None
        self._reference = ReferenceFrame(config.reference_frames)
        self._reference_stamp = 0.0
        self.cycles_started = 0

    @property
    def recording(self) -> bool:
        return self._cycle is not None

    def on_frame(self, stamp_s: float, image: np.ndarray) -> None:
        with self._lock:
            frame = StampedImage(stamp_s, image)
            self._buffer.append(frame)
            while self._buffer and self._buffer[0].stamp_s < stamp_s - FRAME_BUFFER_S:
                self._buffer.popleft()
            cycle = self._cycle
            if cycle is None:
                return
            if self._reference.capturing:
                self._reference.offer(image)
                self._reference_stamp = stamp_s
                if not self._reference.capturing and self._reference.image is not None:
                    cycle.reference = StampedImage(self._reference_stamp, self._reference.image)
                return
            if cycle.press_of(stamp_s) is not None:
                cycle.frames.append(frame)

    def on_state(self, state: str, stamp_s: float) -> RecordedCycle | None:
        """The finished cycle at ``done`` or a fault, else None."""
        state = state.strip()
        with self._lock:
            if state == "approaching":
                if self._cycle is not None:
                    log.warning("cycle %d did not end before the next began: not recorded", self._cycle.cycle)
                self.cycles_started += 1
                self._cycle = RecordedCycle(cycle=self.cycles_started, sensor_serial=self.config.sensor_serial,
                                            label=self.label, label_source="user" if self.label else "none",
                                            start_s=stamp_s, end_s=stamp_s)
                self._reference = ReferenceFrame(self.config.reference_frames)
                self._reference.capture_next("cycle start")
            cycle = self._cycle
            if cycle is None:
                return None
            cycle.states.append((stamp_s, state))
            cycle.end_s = max(cycle.end_s, stamp_s)
            if state == "retracting" and cycle.windows:
                start, end = cycle.windows[-1]
                cycle.windows[-1] = (start, max(start, min(end, stamp_s)))
            if state == "done" or state.startswith("fault"):
                cycle.outcome = state
                cycle.frames = [f for f in cycle.frames if cycle.press_of(f.stamp_s) is not None]
                self._cycle = None
                return cycle
        return None

    def on_press(self, stamp_s: float, wrench: Wrench) -> None:
        with self._lock:
            cycle = self._cycle
            if cycle is None:
                log.info("press at %.3f s outside a recorded cycle: not recorded", stamp_s)
                return
            cycle.presses.append((stamp_s, wrench))
            cycle.windows.append((stamp_s, stamp_s + self.config.hold_window_s))
            cycle.end_s = max(cycle.end_s, stamp_s)
            if len(cycle.presses) == 1:
                self._name_target(cycle)
            known = {f.stamp_s for f in cycle.frames}
            cycle.frames.extend(f for f in self._buffer
                                if f.stamp_s not in known and cycle.press_of(f.stamp_s) == len(cycle.windows) - 1)

    def _name_target(self, cycle: RecordedCycle) -> None:
        if self.scene is None or not cycle.poses:
            return
        cycle.frame_id = cycle.frame_id or "base"
        x, y, z = cycle.poses[-1][1][:3]
        cycle.target, cycle.material = object_under(self.scene, (x, y, z))
        if not cycle.label and cycle.material:
            cycle.label, cycle.label_source = cycle.material, "scene"

    def on_wrench(self, stamp_s: float, wrench: Wrench, frame_id: str = "base") -> None:
        with self._lock:
            if self._cycle is not None:
                self._cycle.wrenches.append((stamp_s, wrench))
                self._cycle.wrench_frame_id = frame_id

    def on_pose(self, stamp_s: float, pose: PoseQ, frame_id: str = "base") -> None:
        with self._lock:
            if self._cycle is not None:
                self._cycle.poses.append((stamp_s, pose))
                self._cycle.frame_id = frame_id
