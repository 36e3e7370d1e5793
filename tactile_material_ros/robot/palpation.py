"""The palpation routine: an explicit state machine over the arm port.

One cycle on a target (the top of an object, base frame)::

    idle -> approaching -> pressing -> holding -> retracting -> rotating -> pressing -> ...
         -> retracting -> rotating -> done            (or, from anywhere: fault: <reason>)

- approaching: zero the F/T reading (the reference: the start pose must be clear of objects),
  move to the travel height above the target (turning the tool to the first press angle on the
  way), then straight down to the approach pose, a small clearance above the object's top; a
  force above ``free_force_n`` on the way down means the object is higher than the scene says
  (``fault: preload``).
- pressing: zero the F/T reading again (it drifts), but only when the tool is free (the mean force
  over 0.1 s below ``free_force_n``; else ``fault: preload``); enter force mode along tool Z and
  wait until the force has stayed within tolerance of the target for the settle time; that
  instant is the press (force, tool angle, depth past first touch) and is reported at once.
- holding: keep pressing for the hold time (the capture window of the tactile camera).
- retracting: leave force mode, lift straight up (to the approach pose, or to the travel
  height after the last press).
- rotating: turn wrist 3 by the rotation angle for the next press (a joint move: the turn goes
  the way the angle says, never "the shorter way"); after the last press, return to the start
  position and unwind wrist 3 in joint space to its start angle, so cycles never wind the wrist.

Safety invariants (each has a test): every exit path leaves force mode (``try/finally``); on a
fault the arm lifts clear where it can still move, and only if the cycle has moved it; before
anything moves, every target is checked against the workspace box and the table plane, the
wrist's total turn against its limits and the settings against the arm's force noise (CB3 or
e-Series); the maximum force (absolute: every offset removed by zeroing is added back), the
maximum travel below the approach pose, the controller's safety state and the link are checked
every control period, so an overshoot, a missing object, a protective, emergency or safeguard
stop, a paused program or a lost connection ends the cycle in ``fault: <reason>``; every state
has a timeout, stretched by its planned motion at the speed slider's setting, so nothing hangs
and a slow first run does not time out. ``abort()`` may be called from any thread while a cycle
runs.

The routine itself never sleeps: it paces with the arm's control period (``initPeriod`` /
``waitPeriod``) and measures time on the arm's clock, so the same code runs a real UR at 500 Hz
and the simulated UR10 faster than real time.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

import numpy as np

from tactile_material_ros.robot.arm_port import (
    ROBOT_MODE_RUNNING,
    ArmConnectionError,
    ArmError,
    ArmPort,
    ArmSample,
    ForceModeCommand,
    SafetyState,
    movel_duration_s,
    trapezoid_duration_s,
)
from tactile_material_ros.robot.cell import Workspace
from tactile_material_ros.robot.poses import (
    Pose,
    make_pose,
    rotation_between_rad,
    split_pose,
    tilt_from_down_rad,
    tool_angle_rad,
    tool_down,
)

log = logging.getLogger(__name__)

CONTACT_LOST_FRACTION = 0.5          # holding: below this share of the target force, contact is lost
MAX_START_TILT_DEG = 10.0            # the tool must point down within this at the start pose
ARRIVAL_TOLERANCE_M = 0.0002         # a move has arrived within 0.2 mm ...
ARRIVAL_TOLERANCE_RAD = math.radians(0.2)  # ... and 0.2 deg of its target ...
REST_SPEED_MPS = 0.002               # ... and has come to rest (below 2 mm/s ...
REST_SPEED_RAD_S = math.radians(1.0)  # ... and 1 deg/s)
ARRIVAL_TOLERANCE_Q_RAD = math.radians(0.1)  # a joint move has arrived within 0.1 deg on every joint
FREE_WINDOW_S = 0.1                  # the tool counts as free when the mean force over this window is low
WRIST_JOINT = 5                      # wrist 3: turns the tool about its Z axis
WRIST_LIMIT_MARGIN_RAD = math.radians(5.0)  # keep this far inside the +/- 360 deg joint limit
JOINT_LIMIT_RAD = 2.0 * math.pi


class PalpationState(StrEnum):
    IDLE = "idle"
    APPROACHING = "approaching"
    PRESSING = "pressing"
    HOLDING = "holding"
    RETRACTING = "retracting"
    ROTATING = "rotating"
    DONE = "done"
    FAULT = "fault"


# States in which a cycle can be interrupted (the fault-injection points).
ACTIVE_STATES = (PalpationState.APPROACHING, PalpationState.PRESSING, PalpationState.HOLDING,
                 PalpationState.RETRACTING, PalpationState.ROTATING)


class FaultCode(StrEnum):
    LOST_LINK = "lost_link"
    PROTECTIVE_STOP = "protective_stop"
    EMERGENCY_STOP = "emergency_stop"
    SAFEGUARD_STOP = "safeguard_stop"
    PROGRAM_PAUSED = "program_paused"
    ROBOT_MODE = "robot_mode"
    PRELOAD = "preload"
    WORKSPACE = "workspace"
    JOINT_LIMIT = "joint_limit"
    SETTINGS = "settings"
    OVERSHOOT = "overshoot"
    NO_CONTACT = "no_contact"
    MAX_TRAVEL = "max_travel"
    TIMEOUT = "timeout"
    ABORTED = "aborted"
    REJECTED = "rejected"
    START_POSE = "start_pose"
    NO_CONNECTION = "no_connection"
    INTERNAL_ERROR = "internal_error"


# faults raised by the checks before anything moves: the arm is left where it is
REFUSALS = (FaultCode.START_POSE, FaultCode.WORKSPACE, FaultCode.JOINT_LIMIT, FaultCode.SETTINGS)


class PalpationFault(Exception):
    """A cycle ends in fault; ``reason`` is ``<code>: <what happened>``."""

    def __init__(self, code: FaultCode, detail: str) -> None:
        super().__init__(f"{code.value}: {detail}")
        self.code = code
        self.detail = detail

    @property
    def reason(self) -> str:
        return str(self)


class PalpationBusy(RuntimeError):
    """A cycle is already running."""


def _param(default: float | int, lo: float, hi: float, description: str) -> Any:
    return field(default=default, metadata={"range": (lo, hi), "description": description})


@dataclass(frozen=True)
class PalpationConfig:
    """Every limit of the routine, validated; the defaults are the safe ones used on the real cell.

    Node parameters and the CLI's ``--set`` map one to one onto these fields.
    """

    target_force_n: float = _param(24.0, 0.5, 100.0, "normal force to press with [N]")
    force_tolerance_n: float = _param(1.0, 0.05, 10.0, "settled when the force stays within +/- this of the target [N]")
    settle_time_s: float = _param(0.15, 0.0, 5.0, "how long the force must stay within tolerance to count as settled [s]")
    hold_time_s: float = _param(0.6, 0.0, 30.0, "how long to keep pressing after settling: the camera's capture window [s]")
    max_force_n: float = _param(40.0, 1.0, 150.0, "any force above this ends the cycle (overshoot, collision) [N]")
    contact_force_n: float = _param(1.0, 0.05, 20.0, "first touch: the force at which depth is counted from [N]")
    free_force_n: float = _param(3.0, 0.2, 20.0, "the tool counts as free (F/T may be zeroed, the descent is clear) "
                                 "below this force [N]")
    presses: int = _param(2, 1, 8, "presses per cycle, with a tool rotation between them")
    rotation_deg: float = _param(90.0, -360.0, 360.0, "tool rotation about its Z axis between presses [deg]")
    max_wrist_turn_deg: float = _param(360.0, 0.0, 710.0, "largest turn of wrist 3 away from its start angle "
                                       "within a cycle [deg]")
    first_tool_angle_deg: float = _param(0.0, -180.0, 180.0, "tool angle of the first press, about tool Z from the reference [deg]")
    approach_clearance_m: float = _param(0.005, 0.001, 0.05, "gap between gel and the object's top at the approach pose [m]")
    travel_clearance_m: float = _param(0.04, 0.005, 0.5, "height above the object's top for moves to and from it [m]")
    max_travel_m: float = _param(0.02, 0.002, 0.1, "deepest allowed travel below the approach pose while pressing [m]")
    travel_speed_mps: float = _param(0.3, 0.01, 1.0, "tool speed of moves to and from the travel height [m/s]")
    approach_speed_mps: float = _param(0.08, 0.005, 0.25, "tool speed of the final descent and of the retract [m/s]")
    linear_accel_mps2: float = _param(1.0, 0.05, 4.0, "tool acceleration of all linear moves [m/s^2]")
    rotation_speed_rad_s: float = _param(2.0, 0.05, 3.14, "tool angular speed of the rotation between presses [rad/s]")
    rotation_accel_rad_s2: float = _param(8.0, 0.1, 16.0, "tool angular acceleration of that rotation [rad/s^2]")
    press_speed_limit_mps: float = _param(0.015, 0.001, 0.1, "force mode: speed limit along the compliant axis (tool Z) [m/s]")
    damping: float = _param(0.2, 0.0, 1.0, "force mode damping, 0..1 (forceModeSetDamping)")
    gain_scaling: float = _param(1.0, 0.01, 2.0, "force mode gain scaling, 0..2, above 1 may bounce on hard objects")
    force_filter_s: float = _param(0.01, 0.0, 0.2, "time constant of the low-pass filter on the force for settling [s]")
    approach_timeout_s: float = _param(10.0, 0.5, 120.0, "approaching must finish within this [s]")
    press_timeout_s: float = _param(4.0, 0.5, 60.0, "pressing must settle within this [s]")
    retract_timeout_s: float = _param(3.0, 0.5, 60.0, "retracting must finish within this [s]")
    rotate_timeout_s: float = _param(8.0, 0.5, 120.0, "rotating (and the return after the last press) must finish within this [s]")
    fault_retract_m: float = _param(0.02, 0.0, 0.1, "after a fault, lift at least this far straight up where the arm can move [m]")
    stream_rate_hz: float = _param(100.0, 1.0, 500.0, "rate of wrench and pose samples passed to listeners during a cycle [Hz]")

    def __post_init__(self) -> None:
        for f in fields(self):
            lo, hi = f.metadata["range"]
            value = getattr(self, f.name)
            kind = int if f.type in ("int", int) else float
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (
                    kind is int and not isinstance(value, int)):
                hint = (f"; write {int(value)}, not {value!r}" if kind is int and isinstance(value, float)
                        and math.isfinite(value) and value.is_integer() else "")
                raise ValueError(f"palpation parameter {f.name} = {value!r} must be {'an integer' if kind is int else 'a number'} "
                                 f"in [{lo}, {hi}] ({f.metadata['description']}){hint}")
            if not (math.isfinite(value) and lo <= value <= hi):
                raise ValueError(f"palpation parameter {f.name} = {value!r} is out of range: allowed [{lo}, {hi}] "
                                 f"({f.metadata['description']}); set a value in that range")
        limit = self.target_force_n + self.force_tolerance_n
        if not self.max_force_n > limit:
            raise ValueError(f"palpation parameter max_force_n = {self.max_force_n!r} must be above target_force_n + "
                             f"force_tolerance_n = {limit:g} N: allowed ({limit:g}, 150.0]; raise max_force_n or lower "
                             "target_force_n")
        if not self.force_tolerance_n < self.target_force_n:
            raise ValueError(f"palpation parameter force_tolerance_n = {self.force_tolerance_n!r} must be below "
                             f"target_force_n = {self.target_force_n:g} N: allowed [0.05, {self.target_force_n:g})")
        if not self.free_force_n < self.target_force_n - self.force_tolerance_n:
            raise ValueError(f"palpation parameter free_force_n = {self.free_force_n!r} must be below "
                             f"target_force_n - force_tolerance_n = {self.target_force_n - self.force_tolerance_n:g} N")
        if not self.contact_force_n < self.target_force_n - self.force_tolerance_n:
            raise ValueError(f"palpation parameter contact_force_n = {self.contact_force_n!r} must be below "
                             f"target_force_n - force_tolerance_n = {self.target_force_n - self.force_tolerance_n:g} N")
        if not self.max_travel_m > self.approach_clearance_m:
            raise ValueError(f"palpation parameter max_travel_m = {self.max_travel_m!r} must exceed approach_clearance_m = "
                             f"{self.approach_clearance_m:g} m, or the press can never reach the object: allowed "
                             f"({self.approach_clearance_m:g}, 0.1]")
        if not self.travel_clearance_m >= self.approach_clearance_m:
            raise ValueError(f"palpation parameter travel_clearance_m = {self.travel_clearance_m!r} must be at least "
                             f"approach_clearance_m = {self.approach_clearance_m:g} m: allowed "
                             f"[{self.approach_clearance_m:g}, 0.5]")

    @classmethod
    def describe(cls) -> list[tuple[str, float | int, tuple[float, float], str]]:
        """(name, default, allowed range, description) of every field: what the node declares."""
        defaults = cls()
        return [(f.name, getattr(defaults, f.name), f.metadata["range"], f.metadata["description"]) for f in fields(cls)]

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> PalpationConfig:
        """Build from a mapping of field names (unknown names are an error naming the known ones)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown palpation parameter(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**values)

    def max_cycle_time_s(self, speed_fraction: float = 1.0, travel_m: float = 1.0) -> float:
        """Upper bound on one cycle, including the fault handling: what callers may wait for.

        ``speed_fraction``: the speed slider; ``travel_m``: the longest way between the start pose and
        a target. Each state's timeout comes on top of its planned motion at the slider's speed.
        """
        slow = 1.0 / speed_fraction
        moves = (2.0 * travel_m / self.travel_speed_mps + 4.0 * self.travel_clearance_m / self.approach_speed_mps
                 + (self.max_travel_m + self.approach_clearance_m) / self.press_speed_limit_mps * self.presses
                 + math.radians(self.max_wrist_turn_deg) * 2.0 / self.rotation_speed_rad_s + 10.0)
        per_press = (self.press_timeout_s + self.hold_time_s + FREE_WINDOW_S + self.retract_timeout_s
                     + self.rotate_timeout_s)
        return self.approach_timeout_s + self.presses * per_press + self.retract_timeout_s + moves * slow + 1.0


@dataclass(frozen=True)
class Press:
    """One settled press: the moment the force stayed at the target for the settle time."""

    index: int
    t: float                 # arm clock at settle [s]
    force_n: float           # mean normal force over the settle window
    tool_angle_deg: float    # tool angle about its Z axis at settle
    depth_m: float           # travel along tool Z since the force first passed contact_force_n
    wrench: tuple[float, ...] = ()  # mean wrench over the settle window, base-frame axes (force on the tool)

    def to_dict(self) -> dict[str, float]:
        return {"force_n": round(self.force_n, 3), "tool_angle_deg": round(self.tool_angle_deg, 3),
                "depth_m": round(self.depth_m, 6)}


@dataclass(frozen=True)
class StateRecord:
    state: str               # a PalpationState value, or "fault: <reason>"
    t: float                 # seconds since the cycle started


@dataclass(frozen=True)
class PalpationResult:
    outcome: str                          # "done" or "fault"
    reason: str | None                    # "<code>: <detail>" on fault
    states: tuple[StateRecord, ...]
    presses: tuple[Press, ...]
    force_mode_stopped: bool | None       # read back from the arm; None when it cannot tell (lost link)
    duration_s: float
    start_pose: Pose | None
    end_pose: Pose | None

    @property
    def fault_code(self) -> FaultCode | None:
        if self.reason is None:
            return None
        return FaultCode(self.reason.split(":", 1)[0])

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "reason": self.reason,
            "states": [{"state": s.state, "t": round(s.t, 4)} for s in self.states],
            "presses": [p.to_dict() for p in self.presses],
            "force_mode_stopped": self.force_mode_stopped,
            "duration_s": round(self.duration_s, 4),
        }


class PalpationListener:
    """Observer of a cycle. Methods run on the routine's thread and must return quickly.

    An exception raised by a listener is logged and does not disturb the cycle.
    """

    wants_samples = False        # set True to receive on_sample at the configured stream rate

    def on_state(self, state: str, t: float) -> None:
        """``state`` is a PalpationState value or ``fault: <reason>``; ``t`` is on the arm clock."""

    def on_press(self, press: Press) -> None:
        """Called once per press, at settle."""

    def on_sample(self, sample: ArmSample) -> None:
        """Pose, wrench and joints, at ``stream_rate_hz`` while a cycle runs."""


@dataclass(frozen=True)
class _PressGeometry:
    """Where a press started (the approach pose), along which axis, with which force-mode command."""

    origin: np.ndarray
    axis: np.ndarray
    command: ForceModeCommand

    def travel(self, position: np.ndarray) -> float:
        """Distance moved along tool Z (into the object) since the press started [m]."""
        return float((position - self.origin) @ self.axis)


@dataclass
class _Reading:
    t: float
    position: np.ndarray
    rot: np.ndarray
    wrench: np.ndarray
    normal_n: float           # normal force (object pushing on the gel), relative to the baseline zero [N]
    filtered_n: float         # low-pass filtered normal force [N]


class PalpationRoutine:
    """Runs palpation cycles on one arm. Thread-safe: ``palpate`` on one thread, ``abort`` from any.

    ``workspace``: where the TCP may go (box and table plane); every target is checked against it
    before anything moves.
    """

    def __init__(self, arm: ArmPort, config: PalpationConfig | None = None,
                 listeners: Sequence[PalpationListener] = (), workspace: Workspace | None = None) -> None:
        self.arm = arm
        self.config = config or PalpationConfig()
        self.workspace = workspace or Workspace()
        self._listeners = list(listeners)
        self._abort = threading.Event()
        self._busy = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()
        self._state = PalpationState.IDLE.value
        self._token: object = None
        self._filtered = 0.0
        self._removed = np.zeros(3)     # force offsets removed by zeroing since the reference zero (base axes)
        self._moved = False             # has this cycle commanded any motion?
        self._slider = 1.0              # the speed slider, read at the start of the cycle
        self._deadline = math.inf
        self._next_sample_t = 0.0
        self._t0 = 0.0
        self._states: list[StateRecord] = []

    # -- public ----------------------------------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._state

    @property
    def busy(self) -> bool:
        return self._busy.locked()

    def add_listener(self, listener: PalpationListener) -> None:
        self._listeners.append(listener)

    def abort(self) -> bool:
        """Ask the running cycle to stop (force mode off, lift clear, ``fault: aborted``). False if idle."""
        if not self.busy:
            return False
        self._abort.set()
        return True

    def wait_until_idle(self, timeout_s: float) -> bool:
        """Block until no cycle runs (True), or ``timeout_s`` has passed (False)."""
        return self._idle.wait(timeout_s)

    def palpate(self, target_top_m: np.ndarray, config: PalpationConfig | None = None) -> PalpationResult:
        """One full cycle on the object whose top is at ``target_top_m`` (base frame). Never raises an ArmError."""
        if not self._busy.acquire(blocking=False):
            raise PalpationBusy("a palpation cycle is already running; wait for it or abort it")
        self._idle.clear()
        try:
            if config is not None:
                self.config = config
            return self._cycle(np.asarray(target_top_m, dtype=float))
        finally:
            self._idle.set()
            self._busy.release()

    # -- the cycle -------------------------------------------------------------------------------------

    def _cycle(self, target_top: np.ndarray) -> PalpationResult:
        self._abort.clear()
        self._states = []
        self._next_sample_t = 0.0
        self._removed = np.zeros(3)
        self._moved = False
        presses: list[Press] = []
        fault: PalpationFault | None = None
        completed = False
        start_pose: Pose | None = None
        self._t0 = self.arm.now()
        try:
            try:
                self._check_settings()
                self.arm.prepare()
                self._token = self.arm.period_start()
                start_pose = self.arm.tcp_pose()
                self._run(target_top, start_pose, presses)
                completed = True
            except PalpationFault as exc:
                fault = exc
            except ArmError as exc:
                fault = self._fault_from_arm_error(exc)
            except Exception as exc:  # a bug must still end in a stopped, retracted arm and a reported fault
                log.exception("palpation cycle failed unexpectedly")
                fault = PalpationFault(FaultCode.INTERNAL_ERROR, f"{type(exc).__name__}: {exc}")
        finally:
            # runs on every exit path, including KeyboardInterrupt
            self._leave_force_mode()
            # a refusal before anything moved leaves the arm where it is; any other fault lifts clear
            if not completed and (self._moved or (fault is not None and fault.code not in REFUSALS)):
                self._lift_clear(target_top)
        force_mode_stopped = self._force_mode_stopped()
        if fault is not None:
            log.warning("palpation fault: %s", fault.reason)
            self._enter(f"{PalpationState.FAULT.value}: {fault.reason}")
        else:
            self._enter(PalpationState.DONE.value)
        return PalpationResult(
            outcome=PalpationState.FAULT.value if fault else PalpationState.DONE.value,
            reason=fault.reason if fault else None,
            states=tuple(self._states),
            presses=tuple(presses),
            force_mode_stopped=force_mode_stopped,
            duration_s=self.arm.now() - self._t0,
            start_pose=start_pose,
            end_pose=self._try_pose(),
        )

    def _check_settings(self) -> None:
        """The settings must suit this arm's force reading (a CB3's is noisy): checked before anything moves."""
        problems = self.arm.model.settings_problems(self.config)
        if problems:
            raise PalpationFault(FaultCode.SETTINGS, f"these settings are not safe on a {self.arm.model.name}: "
                                 + "; ".join(problems) + " (docs/hardware.md, CB3 vs e-Series)")

    def _run(self, target_top: np.ndarray, start_pose: Pose, presses: list[Press]) -> None:
        cfg = self.config
        start_p, start_r = split_pose(start_pose)
        tilt = math.degrees(tilt_from_down_rad(start_r))
        if tilt > MAX_START_TILT_DEG:
            raise PalpationFault(FaultCode.START_POSE, f"the tool is tilted {tilt:.1f} deg from straight down at the "
                                 f"start pose (allowed {MAX_START_TILT_DEG:g} deg); jog it to point down first")
        approach_p = target_top + np.array([0.0, 0.0, cfg.approach_clearance_m])
        travel_z = float(target_top[2]) + cfg.travel_clearance_m
        travel_p = np.array([target_top[0], target_top[1], travel_z])
        # moves between the start pose and the target go through the travel height: straight up
        # first if the start is lower, then across (and back the same way)
        rise = [np.array([start_p[0], start_p[1], travel_z])] if start_p[2] < travel_z - ARRIVAL_TOLERANCE_M else []
        self._check_workspace(start_p, target_top, travel_p, approach_p, rise)
        first_r = tool_down(math.radians(cfg.first_tool_angle_deg))
        start_q = self.arm.joint_positions()
        wrist_start = self._plan_wrist(start_q, make_pose(travel_p, first_r))
        self._slider = self._read_slider()

        self._enter(PalpationState.APPROACHING.value, cfg.approach_timeout_s)
        self._zero_ft(reference=True)
        for p in rise:
            self._move_to(p, start_r, cfg.travel_speed_mps, cfg.linear_accel_mps2, "approaching")
        self._move_to(travel_p, first_r, cfg.travel_speed_mps, cfg.linear_accel_mps2, "approaching")
        self._move_to(approach_p, first_r, cfg.approach_speed_mps, cfg.linear_accel_mps2, "approaching",
                      watch_contact=True)

        for index in range(cfg.presses):
            last = index == cfg.presses - 1
            self._hold(self._press(index, presses))

            self._enter(PalpationState.RETRACTING.value, cfg.retract_timeout_s)
            self.arm.force_mode_stop()
            here = self._read()
            lift_p = np.array([here.position[0], here.position[1], travel_z if last else approach_p[2]])
            self._move_to(lift_p, here.rot, cfg.approach_speed_mps, cfg.linear_accel_mps2, "retracting")

            self._enter(PalpationState.ROTATING.value, cfg.rotate_timeout_s)
            if not last:    # turn wrist 3 (only it: the TCP is on its axis) by the rotation angle
                q = self.arm.joint_positions()
                q[WRIST_JOINT] += math.radians(cfg.rotation_deg)
                self._check_wrist(float(q[WRIST_JOINT]), wrist_start)
                self._move_joints_to(q, "rotating")
            else:           # back to the start position, then unwind the wrist to its start angle
                here = self._read()
                for p in [*rise, start_p]:
                    self._move_to(p, here.rot, cfg.travel_speed_mps, cfg.linear_accel_mps2,
                                  "returning to the start pose")
                self._move_joints_to(start_q, "unwinding the wrist at the start pose")

    def _check_workspace(self, start_p: np.ndarray, target_top: np.ndarray, travel_p: np.ndarray,
                         approach_p: np.ndarray, rise: list[np.ndarray]) -> None:
        """Every point the cycle may send the TCP to, inside the box and above the table; checked before moving."""
        deepest = approach_p - np.array([0.0, 0.0, self.config.max_travel_m])
        points = [("the start pose", start_p), ("the target's top", target_top), ("the travel pose", travel_p),
                  ("the approach pose", approach_p), *[("the rise above the start", p) for p in rise]]
        for what, point in points:
            problem = self.workspace.problem(point, what)
            if problem:
                raise PalpationFault(FaultCode.WORKSPACE, f"{problem}; nothing moved: check the scene file and the "
                                     "workspace parameters")
        if deepest[2] < self.workspace.table_z_m:
            raise PalpationFault(FaultCode.WORKSPACE, f"the deepest press (approach pose minus max_travel_m = "
                                 f"{self.config.max_travel_m:g} m) would reach z = {deepest[2]:.4f} m, below the table "
                                 f"top at {self.workspace.table_z_m:g} m; lower max_travel_m or check the object's height")

    def _plan_wrist(self, start_q: np.ndarray, first_pose: Pose) -> float:
        """Check the wrist-3 angles of all presses before moving; returns wrist 3's start angle.

        The first press's joints come from the controller's inverse kinematics near the start joints
        (the movel to the travel pose ends there); each further press turns wrist 3 by ``rotation_deg``.
        """
        cfg = self.config
        q0 = float(start_q[WRIST_JOINT])
        first = float(self.arm.joint_solution(first_pose, start_q)[WRIST_JOINT])
        angles = [first + i * math.radians(cfg.rotation_deg) for i in range(cfg.presses)]
        for angle in angles:
            self._check_wrist(angle, q0)
        return q0

    def _check_wrist(self, angle: float, q0: float) -> None:
        cfg = self.config
        if abs(angle - q0) > math.radians(cfg.max_wrist_turn_deg) + 1e-9:
            raise PalpationFault(FaultCode.JOINT_LIMIT, f"the presses would turn wrist 3 by "
                                 f"{math.degrees(angle - q0):.0f} deg from its start angle, more than "
                                 f"max_wrist_turn_deg = {cfg.max_wrist_turn_deg:g}; use fewer presses or a smaller "
                                 "rotation_deg")
        if abs(angle) > JOINT_LIMIT_RAD - WRIST_LIMIT_MARGIN_RAD:
            raise PalpationFault(FaultCode.JOINT_LIMIT, f"wrist 3 would reach {math.degrees(angle):.0f} deg, beyond "
                                 f"its limit of +/- {math.degrees(JOINT_LIMIT_RAD - WRIST_LIMIT_MARGIN_RAD):.0f} deg "
                                 f"(it starts at {math.degrees(q0):.0f} deg); unwind wrist 3 towards 0 on the pendant "
                                 "or turn the other way (negative rotation_deg)")

    def _read_slider(self) -> float:
        fraction = float(self.arm.speed_fraction())
        if not (math.isfinite(fraction) and 0.0 < fraction <= 1.0):
            raise PalpationFault(FaultCode.ROBOT_MODE, f"the speed slider reads {fraction!r}; set it above 0 % on "
                                 "the pendant")
        if fraction < 1.0:
            log.info("speed slider at %.0f %%: timeouts stretched by the planned motion", fraction * 100)
        return fraction

    def _press(self, index: int, presses: list[Press]) -> _PressGeometry:
        cfg = self.config
        self._enter(PalpationState.PRESSING.value, cfg.press_timeout_s + FREE_WINDOW_S + (
            cfg.approach_clearance_m + cfg.max_travel_m) / (cfg.press_speed_limit_mps * self._slider))
        self._zero_ft(reference=False)
        start = self._read()
        # the controller regulates its zeroed reading; what the zero removed is added back, so the
        # force on the object is the target (the removed part is below free_force_n by the zero's check)
        offset_n = -float(self._removed @ start.rot[:, 2])
        press = _PressGeometry(start.position, start.rot[:, 2], ForceModeCommand.press_along_tool_z(
            make_pose(start.position, start.rot), cfg.target_force_n - offset_n, cfg.press_speed_limit_mps,
            cfg.damping, cfg.gain_scaling))
        touch_travel: float | None = None
        settle_since: float | None = None
        window: list[float] = []
        wrenches: list[np.ndarray] = []
        self._moved = True
        while True:
            self.arm.force_mode(press.command)
            self._next_period()
            now = self._read()
            travel = press.travel(now.position)
            if touch_travel is None and now.filtered_n >= cfg.contact_force_n:
                touch_travel = travel
            if travel > cfg.max_travel_m:
                if touch_travel is None:
                    raise PalpationFault(FaultCode.NO_CONTACT, f"no contact within {cfg.max_travel_m * 1000:.1f} mm "
                                         "below the approach pose; is the object there?")
                raise PalpationFault(FaultCode.MAX_TRAVEL, f"travelled {travel * 1000:.1f} mm below the approach pose "
                                     f"with only {now.filtered_n:.1f} N; the object is softer or lower than expected")
            if abs(now.filtered_n - cfg.target_force_n) <= cfg.force_tolerance_n:
                if settle_since is None:
                    settle_since, window, wrenches = now.t, [], []
                window.append(now.normal_n)
                wrenches.append(now.wrench)
                if now.t - settle_since >= cfg.settle_time_s:
                    settled = Press(index, now.t, float(np.mean(window)), math.degrees(tool_angle_rad(now.rot)),
                                    travel - (touch_travel if touch_travel is not None else travel),
                                    tuple(float(v) for v in np.mean(wrenches, axis=0)))
                    presses.append(settled)
                    log.info("press %d settled: %.2f N at %.1f deg, depth %.2f mm", index, settled.force_n,
                             settled.tool_angle_deg, settled.depth_m * 1000)
                    self._notify("on_press", settled)
                    return press
            else:
                settle_since = None
            if now.t > self._deadline:
                raise PalpationFault(FaultCode.TIMEOUT, f"pressing: the force did not settle at "
                                     f"{cfg.target_force_n:g} +/- {cfg.force_tolerance_n:g} N within "
                                     f"{cfg.press_timeout_s:g} s (last {now.filtered_n:.1f} N)")

    def _hold(self, press: _PressGeometry) -> None:
        cfg = self.config
        self._enter(PalpationState.HOLDING.value)
        end = self.arm.now() + cfg.hold_time_s
        while True:
            self.arm.force_mode(press.command)
            self._next_period()
            now = self._read()
            if now.filtered_n < CONTACT_LOST_FRACTION * cfg.target_force_n:
                raise PalpationFault(FaultCode.NO_CONTACT, f"contact lost while holding: {now.filtered_n:.1f} N, "
                                     f"below {CONTACT_LOST_FRACTION * cfg.target_force_n:.1f} N")
            travel = press.travel(now.position)
            if travel > cfg.max_travel_m:
                raise PalpationFault(FaultCode.MAX_TRAVEL, f"sank to {travel * 1000:.1f} mm below the approach pose "
                                     "while holding")
            if now.t >= end:
                return

    # -- moving and reading ----------------------------------------------------------------------------

    def _move_to(self, p: np.ndarray, r: np.ndarray, speed: float, accel: float, what: str,
                 watch_contact: bool = False) -> None:
        """A movel, watched to arrival; its planned time at the slider's speed extends the state's deadline.

        ``watch_contact``: a force above ``free_force_n`` on the way means something is in the way
        (the object higher than the scene says): stop and fault ``preload``.
        """
        here_p, here_r = split_pose(self.arm.tcp_pose())
        self._deadline += movel_duration_s(float(np.linalg.norm(p - here_p)), rotation_between_rad(here_r, r),
                                           speed, accel) / self._slider
        self._moved = True
        self.arm.move_linear(make_pose(p, r), speed, accel)
        before: _Reading | None = None
        while True:
            now = self._read()
            distance = float(np.linalg.norm(now.position - p))
            angle = rotation_between_rad(now.rot, r)
            if watch_contact and now.filtered_n > self.config.free_force_n:
                self.arm.stop_motion(self.config.linear_accel_mps2 * 2.0)
                raise PalpationFault(FaultCode.PRELOAD, f"{what}: {now.filtered_n:.1f} N (above free_force_n = "
                                     f"{self.config.free_force_n:g} N) {distance * 1000:.1f} mm before the approach "
                                     "pose: the object is likely higher than the scene file says (or the TCP offset "
                                     "is too short); measure its top again")
            if distance <= ARRIVAL_TOLERANCE_M and angle <= ARRIVAL_TOLERANCE_RAD and before is not None:
                dt = max(now.t - before.t, 1e-9)
                if (float(np.linalg.norm(now.position - before.position)) / dt <= REST_SPEED_MPS
                        and rotation_between_rad(now.rot, before.rot) / dt <= REST_SPEED_RAD_S):
                    return
            before = now
            if now.t > self._deadline:
                raise PalpationFault(FaultCode.TIMEOUT, f"{what}: not at the target in time ({distance * 1000:.1f} mm "
                                     f"and {math.degrees(angle):.1f} deg away); the arm is not following its commands")
            self._next_period()

    def _move_joints_to(self, q: np.ndarray, what: str) -> None:
        """A movej at the rotation speed, watched to arrival; its planned time extends the state's deadline."""
        cfg = self.config
        target = np.asarray(q, dtype=float)
        way = float(np.max(np.abs(target - self.arm.joint_positions())))
        self._deadline += trapezoid_duration_s(way, cfg.rotation_speed_rad_s, cfg.rotation_accel_rad_s2) / self._slider
        self._moved = True
        self.arm.move_joints(target, cfg.rotation_speed_rad_s, cfg.rotation_accel_rad_s2)
        before: np.ndarray | None = None
        while True:
            now = self._read()
            joints = self.arm.joint_positions()
            away = float(np.max(np.abs(joints - target)))
            if away <= ARRIVAL_TOLERANCE_Q_RAD and before is not None:
                if float(np.max(np.abs(joints - before))) / self.arm.period_s <= REST_SPEED_RAD_S:
                    return
            before = joints
            if now.t > self._deadline:
                raise PalpationFault(FaultCode.TIMEOUT, f"{what}: the joints are not at the target in time "
                                     f"({math.degrees(away):.1f} deg away); the arm is not following its commands")
            self._next_period()

    def _next_period(self) -> None:
        """End this control period and start the next; keep the controller's watchdog fed."""
        self.arm.period_wait(self._token)
        self._token = self.arm.period_start()
        self.arm.kick_watchdog()

    def _absolute_force_n(self, wrench: np.ndarray) -> float:
        """|F| of a raw reading with every offset that zeroing removed since the baseline added back."""
        return float(np.linalg.norm(np.asarray(wrench[:3], dtype=float) + self._removed))

    def _read(self) -> _Reading:
        """Read the arm and check every limit that holds in every state."""
        fault = self._safety_fault(self.arm.safety())
        if fault is not None:
            raise fault
        if self._abort.is_set():
            raise PalpationFault(FaultCode.ABORTED, f"abort requested during {self._state}")
        t = self.arm.now()
        pose = self.arm.tcp_pose()
        wrench = self.arm.tcp_wrench()
        position, rot = split_pose(pose)
        wrench = np.asarray(wrench, dtype=float).copy()
        wrench[:3] += self._removed                  # absolute: relative to the baseline zero
        magnitude = float(np.linalg.norm(wrench[:3]))
        if magnitude > self.config.max_force_n:
            raise PalpationFault(FaultCode.OVERSHOOT, f"force {magnitude:.1f} N above the maximum "
                                 f"{self.config.max_force_n:g} N during {self._state}")
        normal = -float(wrench[:3] @ rot[:, 2])
        self._filtered += self._filter_gain() * (normal - self._filtered)
        if t >= self._next_sample_t and any(listener.wants_samples for listener in self._listeners):
            interval = 1.0 / self.config.stream_rate_hz
            behind = t - self._next_sample_t >= interval     # first sample of a cycle, or a stall
            self._next_sample_t = (t if behind else self._next_sample_t) + interval
            self._notify("on_sample", ArmSample(t, pose, wrench, self.arm.joint_positions()))
        return _Reading(t, position, rot, wrench, normal, self._filtered)

    def _filter_gain(self) -> float:
        tau = self.config.force_filter_s
        dt = self.arm.period_s
        return 1.0 if tau <= 0.0 else dt / (tau + dt)

    def _zero_ft(self, reference: bool) -> None:
        """Zero the F/T reading, but never under load, and keep track of what zeroing removed.

        ``reference``: the first zero of the cycle, at the start pose (which must be clear of objects):
        the baseline. Every later zero first checks that the tool is free (the mean force over
        ``FREE_WINDOW_S``, relative to the baseline, below ``free_force_n``; else ``fault: preload``).
        After each zero the mean reading over ``FREE_WINDOW_S`` shows what the zero left behind (it is
        taken on one noisy sample: several N on a CB3). ``self._removed`` then holds the offset that
        makes ``reading + removed`` the force relative to the baseline: every force check, the press
        force and the force-mode target use it, so nothing is hidden by a zero.
        """
        load = np.zeros(3)
        if not reference:
            mean = self._mean_reading()
            load = mean + self._removed
            if float(np.linalg.norm(load)) > self.config.free_force_n:
                normal = -float(load @ self._read().rot[:, 2])
                if normal < -self.config.free_force_n:
                    raise PalpationFault(FaultCode.PRELOAD, f"{self._state}: the force on the gel dropped by "
                                         f"{-normal:.1f} N since the start pose, where the cycle started in contact: "
                                         "the F/T reading was zeroed at the start pose under load; jog the tool clear "
                                         "of all objects, then palpate again")
                raise PalpationFault(FaultCode.PRELOAD, f"{self._state}: the tool is not free before zeroing the F/T "
                                     f"reading ({float(np.linalg.norm(load)):.1f} N since the start pose; free_force_n "
                                     f"= {self.config.free_force_n:g} N): the object is likely higher than the scene "
                                     "file says; measure its top again")
        else:
            self._read()
        self.arm.zero_ft()
        self._removed = load              # the reading now starts near zero: near enough until measured
        left = self._mean_reading()
        self._removed = load - left
        if reference:
            self._filtered = 0.0

    def _mean_reading(self) -> np.ndarray:
        """Mean raw force reading over ``FREE_WINDOW_S``, holding still."""
        readings = [self._read_raw_force()]
        end = self.arm.now() + FREE_WINDOW_S
        while self.arm.now() < end:
            self._next_period()
            readings.append(self._read_raw_force())
        return np.mean(readings, axis=0)

    def _read_raw_force(self) -> np.ndarray:
        return np.asarray(self._read().wrench[:3], dtype=float) - self._removed

    def _enter(self, state: str, timeout_s: float | None = None) -> None:
        """Switch state, record it, tell the listeners; the state's deadline (arm clock) starts now."""
        t = self.arm.now()
        self._state = state
        self._deadline = t + timeout_s if timeout_s is not None else math.inf
        self._states.append(StateRecord(state, t - self._t0))
        log.debug("palpation state %s at %.3f s", state, t - self._t0)
        self._notify("on_state", state, t)

    def _notify(self, method: str, *args: Any) -> None:
        for listener in self._listeners:
            try:
                getattr(listener, method)(*args)
            except Exception:  # observers must not be able to break the safety sequence
                log.exception("palpation listener %r failed in %s", listener, method)

    # -- faults ----------------------------------------------------------------------------------------

    def _safety_fault(self, safety: SafetyState) -> PalpationFault | None:
        if not safety.connected:
            return PalpationFault(FaultCode.LOST_LINK, f"lost the connection to the {self.arm.description}")
        if safety.emergency_stopped:
            return PalpationFault(FaultCode.EMERGENCY_STOP, "emergency stop; release it and re-enable the arm on the "
                                  "pendant before the next cycle")
        if safety.protective_stopped:
            return PalpationFault(FaultCode.PROTECTIVE_STOP, "protective stop; find the cause, clear it on the pendant, "
                                  "then palpate again")
        if safety.safeguard_stopped:
            return PalpationFault(FaultCode.SAFEGUARD_STOP, "safeguard stop (a safety input: light curtain, door); the "
                                  "program is paused: reset the safeguard, press Stop on the pendant, then palpate again")
        if safety.program_paused:
            return PalpationFault(FaultCode.PROGRAM_PAUSED, "the control script is paused (pause on the pendant); "
                                  "press Stop on the pendant, then palpate again")
        if safety.robot_mode != ROBOT_MODE_RUNNING:
            return PalpationFault(FaultCode.ROBOT_MODE, f"the robot is not running (mode {safety.robot_mode_name})")
        return None

    def _fault_from_arm_error(self, exc: ArmError) -> PalpationFault:
        fault = self._safety_fault(self.arm.safety())
        if fault is not None:
            return fault
        if isinstance(exc, ArmConnectionError):
            return PalpationFault(FaultCode.LOST_LINK, str(exc))
        return PalpationFault(FaultCode.REJECTED, str(exc))

    def _leave_force_mode(self) -> None:
        """Force mode off, whatever happened. Over a lost link, wait until the controller's watchdog has acted."""
        try:
            self.arm.stop_motion(self.config.linear_accel_mps2 * 2.0)
            self.arm.force_mode_stop()
            return
        except ArmConnectionError as exc:
            log.error("cannot reach the controller to stop force mode (%s); its watchdog stops the control script "
                      "within %.2f s, waiting that long", exc, self.arm.watchdog_timeout_s)
        except ArmError as exc:
            log.warning("the controller did not take forceModeStop (%s); the result reports what it says", exc)
            return
        end = self.arm.now() + self.arm.watchdog_timeout_s + 2 * self.arm.period_s
        token = self.arm.period_start()
        while self.arm.now() < end:
            self.arm.period_wait(token)
            token = self.arm.period_start()

    def _lift_clear(self, target_top: np.ndarray) -> None:
        """After a fault or abort: straight up, away from the object, where the arm can still move."""
        cfg = self.config
        if not self.arm.safety().can_move:
            log.warning("the arm cannot move (%s); not lifting", self.arm.safety())
            return
        try:
            here_p, here_r = split_pose(self.arm.tcp_pose())
            lift_z = max(float(here_p[2]) + cfg.fault_retract_m, float(target_top[2]) + cfg.approach_clearance_m)
            goal = np.array([here_p[0], here_p[1], lift_z])
            self.arm.move_linear(make_pose(goal, here_r), cfg.approach_speed_mps, cfg.linear_accel_mps2)
            deadline = self.arm.now() + cfg.retract_timeout_s + movel_duration_s(
                lift_z - float(here_p[2]), 0.0, cfg.approach_speed_mps, cfg.linear_accel_mps2) / self._slider
            # lifting away from an object lowers the force; a rise above both the limit and the force at
            # the start of the lift means the tool hit something on the way up
            stop_above = max(cfg.max_force_n, self._absolute_force_n(self.arm.tcp_wrench())) + cfg.force_tolerance_n
            token = self.arm.period_start()
            while self.arm.now() < deadline:
                safety = self.arm.safety()
                if not safety.can_move:
                    log.warning("lift after fault interrupted: %s", safety)
                    return
                here = self.arm.tcp_pose()
                force = self._absolute_force_n(self.arm.tcp_wrench())
                if force > stop_above:
                    self.arm.stop_motion(cfg.linear_accel_mps2 * 2.0)
                    log.error("lift after fault stopped: %.1f N, above %.1f N", force, stop_above)
                    return
                if float(np.linalg.norm(here[:3] - goal)) <= ARRIVAL_TOLERANCE_M:
                    log.info("lifted clear to z = %.3f m after the fault", lift_z)
                    return
                self.arm.period_wait(token)
                token = self.arm.period_start()
                self.arm.kick_watchdog()
            self.arm.stop_motion(cfg.linear_accel_mps2 * 2.0)
            log.error("lift after fault did not arrive within %g s", cfg.retract_timeout_s)
        except ArmError as exc:
            log.error("lift after fault failed: %s", exc)

    def _force_mode_stopped(self) -> bool | None:
        try:
            active = self.arm.force_mode_active()
        except ArmError as exc:
            log.warning("cannot read the force-mode state from the arm: %s", exc)
            return None
        return None if active is None else not active

    def _try_pose(self) -> Pose | None:
        try:
            return self.arm.tcp_pose()
        except ArmError:
            return None
