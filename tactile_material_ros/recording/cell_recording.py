"""Record palpation cycles on a cell without ROS: the routine's events and the sensor's frames into a bag.

:class:`RecordingFeed` is a palpation listener that hands the routine's states, presses and
samples to a :class:`CycleRecorder` and writes each finished cycle. Frames come either from a
live source on its own thread (a real DIGIT, through :class:`CaptureLoop`) or, on the simulated
cell, from the simulated DIGIT rendered in step with the simulated arm's clock: at the camera's
rate while the recorder takes its reference (after ``approaching``) and while the arm holds a
press, from the arm's pose and force at that instant, as the camera node renders them in the
graph. Stamps: ``stamp(t)`` turns an arm-clock time into the bag's time.

The routine's thread must keep its control loop and the controller's watchdog fed (0.1 s on a
UR), so the listener only queues: rendering, the recorder's bookkeeping and writing the bag run
in order on a worker thread of their own.

:func:`record_session` palpates each target ``cycles`` times, with a progress bar.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from tactile_material_ros.recording.cycle_recorder import CycleRecorder
from tactile_material_ros.recording.palpation_bag import PalpationBagWriter, PoseQ, RecordedCycle
from tactile_material_ros.robot.arm_port import ArmSample
from tactile_material_ros.robot.palpation import PalpationListener, PalpationResult, PalpationRoutine, Press
from tactile_material_ros.robot.poses import matrix_to_quaternion, rotvec_to_matrix
from tactile_material_ros.sensing.sim_source import SimSource, ToolState, normal_force_n, tool_yaw_rad
from tactile_material_ros.sim.scene import Scene

log = logging.getLogger(__name__)


def pose_quaternion(tcp_pose: Sequence[float]) -> PoseQ:
    """A UR pose [x, y, z, rx, ry, rz] as (x, y, z, qx, qy, qz, qw)."""
    q = matrix_to_quaternion(rotvec_to_matrix(np.asarray(tcp_pose[3:], dtype=float)))
    return (float(tcp_pose[0]), float(tcp_pose[1]), float(tcp_pose[2]), *(float(v) for v in q))  # type: ignore[return-value]


def _wrench(values: Sequence[float]) -> tuple[float, float, float, float, float, float]:
    w = [float(v) for v in values]
    return (w[0], w[1], w[2], w[3], w[4], w[5])


class RecordingFeed(PalpationListener):
    """Routine events (and, on the simulated cell, rendered frames) into the recorder; cycles into the bag."""

    wants_samples = True

    def __init__(self, recorder: CycleRecorder, writer: PalpationBagWriter, stamp: Callable[[float], float],
                 sim_camera: SimSource | None = None, fps: float = 30.0, frame_id: str = "base") -> None:
        self.recorder = recorder
        self.writer = writer
        self.stamp = stamp
        self.sim_camera = sim_camera
        self.period_s = 1.0 / fps
        self.frame_id = frame_id
        self.finished: list[RecordedCycle] = []
        self._state = "idle"
        self._next_frame_t = -np.inf
        self._reference_frames_left = 0
        self._jobs: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._error: Exception | None = None
        self._worker = threading.Thread(target=self._work, name="recording", daemon=True)
        self._worker.start()

    # -- the routine's thread: only queue ------------------------------------------------------
    def on_state(self, state: str, t: float) -> None:
        self._state = state
        if state == "approaching":
            self._reference_frames_left = self.recorder.config.reference_frames
        stamp = self.stamp(t)
        self._jobs.put(lambda: self._finish(self.recorder.on_state(state, stamp)))

    def on_press(self, press: Press) -> None:
        stamp, wrench = self.stamp(press.t), _wrench(press.wrench or (0.0,) * 6)
        self._jobs.put(lambda: self.recorder.on_press(stamp, wrench))

    def on_sample(self, sample: ArmSample) -> None:
        stamp = self.stamp(sample.t)
        pose = pose_quaternion(sample.tcp_pose)
        wrench = _wrench(sample.wrench)
        self._jobs.put(lambda: (self.recorder.on_pose(stamp, pose, self.frame_id), self.recorder.on_wrench(stamp, wrench)))
        if self.sim_camera is not None and self._frame_due(sample.t):
            tool = ToolState(pose[:3], tool_yaw_rad(pose[3:]), normal_force_n(sample.wrench[:3]))
            camera = self.sim_camera
            self._jobs.put(lambda: self.recorder.on_frame(stamp, camera.render(tool)))

    def _frame_due(self, t: float) -> bool:
        """A simulated frame is taken now: at the camera's rate, for the reference and while holding."""
        wanted = self._state == "holding" or (self._state == "approaching" and self._reference_frames_left > 0)
        if not wanted or t < self._next_frame_t:
            return False
        self._next_frame_t = t + self.period_s
        if self._state == "approaching":
            self._reference_frames_left -= 1
        return True

    # -- the worker thread ---------------------------------------------------------------------
    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                if self._error is None:
                    job()
            except Exception as exc:  # kept, and raised on the caller's thread by drain()
                self._error = exc
            finally:
                self._jobs.task_done()
        self._jobs.task_done()

    def _finish(self, cycle: RecordedCycle | None) -> None:
        if cycle is not None:
            self.writer.write_cycle(cycle)
            self.finished.append(cycle)

    def drain(self) -> None:
        """Wait until everything queued is rendered, recorded and written; re-raise what failed there."""
        self._jobs.join()
        if self._error is not None:
            raise self._error

    def close(self) -> None:
        """Finish what is queued and stop the worker (an error there was raised by ``drain``)."""
        self._jobs.put(None)
        self._worker.join()


@dataclass
class SessionReport:
    cycles: list[dict[str, object]] = field(default_factory=list)

    @property
    def faults(self) -> int:
        return sum(1 for c in self.cycles if c["outcome"] != "done")


def record_session(routine: PalpationRoutine, scene: Scene, targets: Sequence[str], cycles: int,
                   feed: RecordingFeed, progress: bool = True) -> SessionReport:
    """Palpate each target ``cycles`` times; every cycle goes to the feed's bag. Stops at the first fault
    (a fault means the cell needs a look), reporting it."""
    from tqdm import tqdm

    routine.add_listener(feed)
    report = SessionReport()
    jobs = [(name, k) for name in targets for k in range(cycles)]
    bar = tqdm(jobs, desc="palpating", unit="cycle", disable=not progress)
    for name, _ in bar:
        bar.set_postfix_str(name)
        before = len(feed.finished)
        result: PalpationResult = routine.palpate(scene.get(name).top_m)
        feed.drain()
        recorded = feed.finished[before:]
        frames = sum(len(c.frames) for c in recorded)
        report.cycles.append({"target": name, "outcome": result.outcome, "reason": result.reason,
                              "presses": len(result.presses), "frames": frames,
                              "label": recorded[-1].label if recorded else ""})
        if result.outcome != "done":
            log.error("%s: %s; stopping (the bag keeps the cycles so far)", name, result.reason)
            break
    bar.close()
    return report
