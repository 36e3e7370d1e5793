"""A simulated UR10 that implements the arm port against the scene's objects.

What is modelled, and how:
- Kinematics: the UR10's DH parameters (``ur_kinematics``); joint angles come from inverse
  kinematics of the TCP pose, started from the previous solution; a move to a pose without a
  joint solution is refused, as the controller refuses it.
- Model: an e-Series profile (F/T sensor, RTDE at 500 Hz, force-mode gain scaling) or a CB3
  profile (force estimated from joint currents with several N of noise, RTDE at 125 Hz, no gain
  scaling; ``cell.CB3``). The physics ticks at 2 ms either way; the client's period is the model's.
- Motion: ``move_linear`` is the controller's movel: straight line, linear and angular
  trapezoid profiles (angular speed and acceleration = 4x the linear values), the slower one
  sets the duration; speed and acceleration are capped at the arm's limits. ``move_joints`` is
  movej: one trapezoid in joint space, the joint with the longest way sets the duration. The
  speed slider (``speed_fraction``) slows every motion, force mode included.
- Joint limits (+/- 360 deg on every UR10 joint) are always enforced: a move whose joint path
  leaves them is refused when it is commanded, as the controller refuses it.
- Force mode: an admittance along the task frame's Z axis, advanced at the controller's 2 ms
  tick: ``v <- (1 - damping) v + gain_scaling * (F_cmd - F_read) * dt / M``, clamped to the
  compliant-axis speed limit; all other axes are held. Like a UR, it regulates the *zeroed, noisy
  reading* ``F_read``, not the true force: zeroing under a preload P makes it press with
  F_cmd + P. ``M`` (a virtual mass) stands for the controller's admittance, not for the arm's
  inertia. With it, force settles smoothly on the balls and rings on a rigid object.
- Contact: the gel face (the TCP) against the scene via ``Scene.contact_under`` and the same
  ``ContactModel`` as the tactile renderer, so force rises with indentation at each material's
  stiffness; the table top (``Scene.table_z_m``) is a rigid plane. The tool is assumed to face
  down (the routine checks this before it moves).
- F/T reading: the true contact wrench plus an offset, a slow drift and white noise (the model's);
  ``zero_ft`` subtracts the present reading, as ``zero_ftsensor()`` does.
- Controller state: protective and emergency stops end the control script (and with it force
  mode and any motion); a safeguard stop or a pause freezes the program (nothing moves, every
  command is refused, whether force mode is on cannot be read); the RTDE watchdog stops the script
  when the client has not kicked it for its timeout, on the wall clock as well as on the simulated
  one (a stalled client is caught however fast the simulation runs). A re-uploaded control script
  starts ``script_start_delay_s`` later, and refuses commands until then, as with ur_rtde 1.6.5.
- Clock: simulated time advances only in ``period_wait`` (lockstep with the client's control
  loop), at real time (``real_time_factor=1``) or as fast as the CPU allows (``None``).
- Fault injection (``inject``): lost_link, protective_stop, emergency_stop, safeguard_stop, pause,
  overshoot (a stiff hidden object pressed into the gel face), no_contact (the object under the
  tool removed), stall (commands accepted, nothing moves), preload (the target stands 7 mm higher
  than the scene file says).

The controller's own record (``record``, ``controller_in_force_mode``) is the truth that tests
check; the port methods answer the way the real controller would, e.g. not at all over a lost link.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from tactile_material_ros.robot.arm_port import (
    MOVEL_ANGULAR_PER_LINEAR,
    ROBOT_MODE_RUNNING,
    ArmCommandRejected,
    ArmConnectionError,
    ForceModeCommand,
    SafetyState,
)
from tactile_material_ros.robot.cell import ARM_MODELS, ArmModel
from tactile_material_ros.robot.poses import (
    Pose,
    interpolate_rotation,
    make_pose,
    rotation_between_rad,
    split_pose,
    tool_down,
)
from tactile_material_ros.robot.ur_kinematics import InverseKinematicsError, URKinematics
from tactile_material_ros.sim.contact_model import ContactModel
from tactile_material_ros.sim.scene import Scene, SceneObject

log = logging.getLogger(__name__)

CONTROLLER_PERIOD_S = 0.002          # the UR controller's 500 Hz physics tick
WATCHDOG_MIN_FREQUENCY_HZ = 10.0     # as the ur_rtde adapter arms it
ROBOT_MODE_POWER_OFF = 3
PRELOAD_RISE_M = 0.007               # the preload fault: the target stands this much higher than the scene says
SCRIPT_START_TIMEOUT_S = 2.0         # prepare() waits this long for a re-uploaded script to run
JOINT_PATH_STEP_RAD = 0.1            # joint-limit check of a movel: one IK solution per 0.1 rad ...
JOINT_PATH_STEP_M = 0.02             # ... and per 20 mm along the path
# Elbow-up, wrist-down joint configuration that seeds the home pose's inverse kinematics.
HOME_SEED_Q = (math.pi, -1.57, 1.57, -1.57, -1.57, 0.0)


class SimFault(StrEnum):
    LOST_LINK = "lost_link"
    PROTECTIVE_STOP = "protective_stop"
    EMERGENCY_STOP = "emergency_stop"
    OVERSHOOT = "overshoot"
    NO_CONTACT = "no_contact"
    STALL = "stall"
    SAFEGUARD_STOP = "safeguard_stop"
    PAUSE = "pause"
    PRELOAD = "preload"

    @classmethod
    def parse(cls, name: str) -> SimFault:
        try:
            return cls(name)
        except ValueError:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(f.value for f in cls)}") from None


# The simulated cell's routine, arm and (in simulation) DIGIT renderer share one process and its GIL, which a
# real cell does not: there a scheduling stall of a few hundred ms on a loaded PC is the simulation's own cost,
# not the robot PC's. The node and the record/teach commands therefore let the wall clock's watchdog wait this
# long; the controller-clock watchdog keeps the controller's 0.1 s, and the UR emulator (real ur_rtde) too.
SHARED_PROCESS_WALL_WATCHDOG_FLOOR_S = 1.0


@dataclass(frozen=True)
class SimArmConfig:
    """The simulated arm and its sensor. Defaults: an e-Series UR10 above the four-ball scene."""

    home_position_m: tuple[float, float, float] = (0.65, 0.0, 0.20)
    home_tool_angle_deg: float = 0.0
    model: str = "e_series"                  # e_series | cb3 (cell.ARM_MODELS)
    tcp_offset_m: float = 0.06               # flange to gel surface along flange Z
    real_time_factor: float | None = None    # None: as fast as possible; 1.0: real time
    speed_fraction: float = 1.0              # the pendant's speed slider, (0, 1]
    script_start_delay_s: float = 0.3        # a re-uploaded control script runs this much later
    virtual_mass_kg: float = 10.0            # force-mode admittance mass
    max_tool_speed_mps: float = 1.0
    max_tool_accel_mps2: float = 4.0
    max_joint_speed_rad_s: float = 3.14
    max_joint_accel_rad_s2: float = 15.0
    ft_noise_n: float | None = None          # white noise per sample, 1 sigma; None: the model's
    ft_torque_noise_nm: float = 0.01
    ft_offset_n: float = 3.0                 # initial offset, 1 sigma per axis
    ft_drift_n_per_s: float = 0.05           # slow drift, 1 sigma per axis
    obstacle_stiffness_n_per_m: float = 1.0e6
    obstacle_interference_m: float = 0.0002  # how far the injected hidden object presses into the gel face
    seed: int = 0
    # on the wall clock a client stall shorter than this is not a watchdog trip (0: the controller's own
    # timeout, as on a robot); tests on a shared, loaded machine raise it, a stalled client is still caught
    wall_watchdog_floor_s: float = 0.0
    # which clocks the RTDE watchdog reads: "sim_and_wall" (the simulated arm: simulated time may run faster
    # than the wall) or "wall" (the controller emulator: it runs at wall time and stamps each kick with the
    # time its package reached the socket, so its own scheduling lag never counts as a client's silence)
    watchdog_clock: str = "sim_and_wall"

    def __post_init__(self) -> None:
        if self.watchdog_clock not in ("sim_and_wall", "wall"):
            raise ValueError(f"watchdog_clock must be 'sim_and_wall' or 'wall', got {self.watchdog_clock!r}")
        if self.real_time_factor is not None and not self.real_time_factor > 0:
            raise ValueError(f"real_time_factor must be > 0 or None (as fast as possible), got {self.real_time_factor}")
        for name in ("tcp_offset_m", "virtual_mass_kg", "max_tool_speed_mps", "max_tool_accel_mps2",
                     "max_joint_speed_rad_s", "max_joint_accel_rad_s2", "obstacle_stiffness_n_per_m"):
            if not getattr(self, name) > 0:
                raise ValueError(f"SimArmConfig.{name} must be > 0, got {getattr(self, name)}")
        if self.model not in ARM_MODELS:
            raise ValueError(f"SimArmConfig.model = {self.model!r}: use one of {', '.join(ARM_MODELS)}")
        if not 0.0 < self.speed_fraction <= 1.0:
            raise ValueError(f"SimArmConfig.speed_fraction = {self.speed_fraction!r}: allowed (0, 1]")
        if not self.script_start_delay_s >= 0.0:
            raise ValueError(f"SimArmConfig.script_start_delay_s = {self.script_start_delay_s!r} must be >= 0")

    @property
    def arm_model(self) -> ArmModel:
        return ARM_MODELS[self.model]

    @property
    def force_noise_n(self) -> float:
        return self.arm_model.force_noise_n if self.ft_noise_n is None else self.ft_noise_n


@dataclass(frozen=True)
class SimEvent:
    t: float
    what: str
    detail: str = ""


class SimClock:
    """Simulated time; paced against the wall clock when a real-time factor is set."""

    def __init__(self, real_time_factor: float | None) -> None:
        self.t = 0.0
        self._factor = real_time_factor
        self._anchor: tuple[float, float] | None = None  # (wall, sim) when pacing started

    def pace(self) -> None:
        """Sleep until the wall clock catches up with simulated time (no-op when unpaced)."""
        if self._factor is None:
            return
        wall = time.monotonic()
        if self._anchor is None:
            self._anchor = (wall, self.t)
        due = self._anchor[0] + (self.t - self._anchor[1]) / self._factor
        if wall - due > 0.1:   # fell behind (idle, or a slow machine): re-anchor instead of racing
            self._anchor = (wall, self.t)
            return
        if due > wall:
            time.sleep(due - wall)


@dataclass
class _LinearMove:
    p0: np.ndarray
    r0: np.ndarray
    p1: np.ndarray
    r1: np.ndarray
    profile: _Trapezoid
    q_path: list[np.ndarray]      # joint solutions at evenly spaced fractions of the path (planned at command time)
    elapsed: float = 0.0          # trajectory time, advanced at the speed slider's rate


@dataclass
class _JointMove:
    q0: np.ndarray
    q1: np.ndarray
    profile: _Trapezoid
    elapsed: float = 0.0


@dataclass(frozen=True)
class _Trapezoid:
    """Position along a path of ``length`` under speed and acceleration limits."""

    length: float
    speed: float
    accel: float

    @property
    def duration(self) -> float:
        if self.length <= 0.0:
            return 0.0
        if self.length <= self.speed**2 / self.accel:        # never reaches cruise speed
            return 2.0 * math.sqrt(self.length / self.accel)
        return self.length / self.speed + self.speed / self.accel

    def fraction(self, t: float) -> float:
        """Fraction of the path covered ``t`` seconds after the start."""
        own = self.duration
        if own <= 0.0 or t >= own:
            return 1.0
        tau = max(t, 0.0)
        v_peak = min(self.speed, math.sqrt(self.length * self.accel))
        t_ramp = v_peak / self.accel
        if tau < t_ramp:
            s = 0.5 * self.accel * tau * tau
        elif tau < own - t_ramp:
            s = 0.5 * self.accel * t_ramp**2 + v_peak * (tau - t_ramp)
        else:
            rest = own - tau
            s = self.length - 0.5 * self.accel * rest * rest
        return min(max(s / self.length, 0.0), 1.0)


class SimArm:
    """A UR10 in the scene, behind the arm port."""

    def __init__(self, scene: Scene, config: SimArmConfig | None = None) -> None:
        self.config = config or SimArmConfig()
        self._scene = scene
        self._contact = ContactModel(scene.library.gel)
        self._kinematics = URKinematics(tcp_offset_m=self.config.tcp_offset_m)
        self._clock = SimClock(self.config.real_time_factor)
        self._rng = np.random.default_rng(self.config.seed)
        self._lock = threading.RLock()
        self.record: list[SimEvent] = []
        # controller state
        self._connected = False
        self._link_up = True
        self._script_running = False
        self._script_starts_at: float | None = None
        self._protective = False
        self._estop = False
        self._safeguard = False
        self._paused = False
        self._robot_mode = ROBOT_MODE_RUNNING
        self._stalled = False
        self._watchdog_timeout: float | None = None
        self._last_kick = 0.0
        self._last_kick_wall = 0.0
        self._pending_input: Callable[[], bool] | None = None
        # kinematic state
        home_rot = tool_down(math.radians(self.config.home_tool_angle_deg))
        self._q = self._kinematics.inverse(np.array(self.config.home_position_m), home_rot, np.array(HOME_SEED_Q))
        self._p, self._r = self._kinematics.forward(self._q)
        self._q_fresh = True
        self._pose_vec = make_pose(self._p, self._r)
        self._motion: _LinearMove | _JointMove | None = None
        self._force: ForceModeCommand | None = None
        self._force_axis = np.zeros(3)
        self._force_speed = 0.0
        self._obstacles: list[float] = []    # surface heights of injected rigid objects [m]
        # F/T reading
        noise = self.config.force_noise_n
        self._ft_offset = np.concatenate([self._rng.normal(0.0, self.config.ft_offset_n, 3),
                                          self._rng.normal(0.0, self.config.ft_offset_n * 0.02, 3)])
        self._ft_drift = np.concatenate([self._rng.normal(0.0, self.config.ft_drift_n_per_s, 3), np.zeros(3)])
        self._ft_zero = np.zeros(6)
        self._noise_sigma = np.array([noise] * 3 + [self.config.ft_torque_noise_nm] * 3)
        self._ft_noise = self._draw_noise()

    # -- the simulator's own interface (tests, fault injection, the node's sim mode) -----------------

    @property
    def controller_in_force_mode(self) -> bool:
        """Truth: is the controller in force mode right now (whatever the client believes; paused: suspended)."""
        with self._lock:
            return self._script_running and self._force is not None

    @property
    def scene(self) -> Scene:
        """The world as it is (after any injected change), not as the scene file says."""
        return self._scene

    def contact_force_n(self) -> float:
        """Truth: the normal force between gel and objects (and the table) now [N]."""
        with self._lock:
            return self._normal_force_n()

    def inject(self, fault: SimFault | str, target: str | None = None) -> None:
        """Make ``fault`` happen now. ``target``: the object that no_contact removes and preload raises
        (default: the one nearest the tool)."""
        fault = SimFault.parse(fault) if isinstance(fault, str) else fault
        with self._lock:
            self._event("inject", fault.value)
            if fault is SimFault.LOST_LINK:
                self._link_up = False
            elif fault is SimFault.PROTECTIVE_STOP:
                self._protective = True
                self._halt("protective stop")
            elif fault is SimFault.EMERGENCY_STOP:
                self._estop = True
                self._robot_mode = ROBOT_MODE_POWER_OFF
                self._halt("emergency stop")
            elif fault is SimFault.SAFEGUARD_STOP:
                self._safeguard = True
                self._pause("safeguard stop")
            elif fault is SimFault.PAUSE:
                self._pause("paused on the pendant")
            elif fault is SimFault.OVERSHOOT:
                self._obstacles.append(float(self._p[2]) + self.config.obstacle_interference_m)
            elif fault is SimFault.NO_CONTACT:
                self._remove_object(target)
            elif fault is SimFault.STALL:
                self._stalled = True
            elif fault is SimFault.PRELOAD:
                self.raise_object(target, PRELOAD_RISE_M)

    def raise_object(self, name: str | None, rise_m: float) -> None:
        """Move an object up by ``rise_m``: the world differs from the scene file the routine was given."""
        with self._lock:
            obj = self._nearest_object(name)
            x, y, z = obj.position_m
            moved = dataclasses.replace(obj, position_m=(x, y, z + rise_m))
            self._scene = dataclasses.replace(self._scene, objects=tuple(
                moved if o is obj else o for o in self._scene.objects))
            self._event("object raised", f"{obj.name} by {rise_m * 1000:.1f} mm")

    def add_obstacle(self, surface_z_m: float) -> None:
        """Put a rigid flat object (the configured stiffness) with its top at ``surface_z_m`` under everything."""
        with self._lock:
            self._obstacles.append(float(surface_z_m))

    @property
    def script_running(self) -> bool:
        """Whether the RTDE control script runs on the controller (what ``isProgramRunning`` reports)."""
        with self._lock:
            self._check_watchdog()
            return self._script_running

    @property
    def motion_active(self) -> bool:
        """Whether a moveL / moveJ is under way (what a blocking movel waits for)."""
        with self._lock:
            return self._motion is not None

    @property
    def program_paused(self) -> bool:
        with self._lock:
            return self._paused

    def upload_script(self) -> bool:
        """What ``reuploadScript`` does (1.6.5): send the control script and return at once; the script runs
        ``script_start_delay_s`` later. False when a stop is active."""
        with self._lock:
            self._require_link()
            self._check_watchdog()
            if self._estop or self._protective or self._safeguard:
                return False
            self._paused = False
            if not self._script_running and self._script_starts_at is None:
                self._script_starts_at = self._clock.t + self.config.script_start_delay_s
                self._event("control script re-uploaded", f"runs in {self.config.script_start_delay_s:g} s")
            return True

    def arm_watchdog(self, min_frequency_hz: float) -> None:
        """What ``setWatchdog`` does: the script stops if not kicked for 1 / min_frequency_hz."""
        with self._lock:
            self._require_running("setWatchdog")
            self._watchdog_timeout = 1.0 / min_frequency_hz
            self._kicked()

    def clear_protective_stop(self) -> None:
        """What the operator does on the pendant; the control script stays stopped until ``prepare``."""
        with self._lock:
            self._protective = False
            self._event("protective stop cleared")

    def stop_program(self) -> None:
        """What the operator does on the pendant after a pause or a reset safeguard stop: the script ends."""
        with self._lock:
            self._safeguard = False
            self._paused = False
            self._halt("program stopped on the pendant")

    # -- arm port --------------------------------------------------------------------------------------

    @property
    def description(self) -> str:
        return f"simulated UR10 ({self.config.model})"

    @property
    def period_s(self) -> float:
        return self.config.arm_model.rtde_period_s

    @property
    def model(self) -> ArmModel:
        return self.config.arm_model

    @property
    def watchdog_timeout_s(self) -> float:
        return self._watchdog_timeout if self._watchdog_timeout is not None else 1.0 / WATCHDOG_MIN_FREQUENCY_HZ

    def connect(self) -> None:
        with self._lock:
            self._connected = True
            self._script_running = True      # ur_rtde's constructor waits until its script runs
            self._event("connected", "control script uploaded")

    def disconnect(self) -> None:
        with self._lock:
            if self._connected and self._link_up:
                self._halt("client stopped the script")
            self._connected = False

    def prepare(self) -> None:
        with self._lock:
            if not self.upload_script():
                stop = "emergency" if self._estop else "safeguard" if self._safeguard else "protective"
                raise ArmCommandRejected(f"{stop} stop is active: clear it on the pendant before the next cycle")
        deadline = self._clock.t + SCRIPT_START_TIMEOUT_S
        while not self.script_running:
            if self._clock.t > deadline:
                raise ArmCommandRejected(f"the control script did not start within {SCRIPT_START_TIMEOUT_S:g} s")
            self.period_wait(self.period_start())
        self.arm_watchdog(WATCHDOG_MIN_FREQUENCY_HZ)

    def now(self) -> float:
        return self._clock.t

    def period_start(self) -> object:
        return self._clock.t

    def period_wait(self, token: object) -> None:
        due = float(token) + self.period_s  # type: ignore[arg-type]
        with self._lock:
            while self._clock.t < due - 1e-9:
                self._tick()
        self._clock.pace()

    def kick_watchdog(self, arrived_at: float | None = None) -> None:
        """A watchdog update; ``arrived_at``: when it reached the controller (``time.monotonic()``), if not now."""
        with self._lock:
            self._require_link()
            self._check_watchdog()
            self._kicked(arrived_at)

    def watch_pending_input(self, probe: Callable[[], bool]) -> None:
        """``probe()`` says whether a client's update has arrived but is not read yet; while it has, the wall
        clock's watchdog waits (a controller emulator that lags behind its socket is not a silent client)."""
        with self._lock:
            self._pending_input = probe

    def move_linear(self, pose: Pose, speed_mps: float, accel_mps2: float) -> None:
        with self._lock:
            self._require_running("moveL")
            if self._force is not None:
                raise ArmCommandRejected("moveL while in force mode; call forceModeStop first")
            p1, r1 = split_pose(pose)
            speed = min(float(speed_mps), self.config.max_tool_speed_mps)
            accel = min(float(accel_mps2), self.config.max_tool_accel_mps2)
            if not (speed > 0 and accel > 0):
                raise ArmCommandRejected(f"moveL needs speed and acceleration > 0, got {speed_mps}, {accel_mps2}")
            q_path = self._plan_linear(p1, r1)
            linear = _Trapezoid(float(np.linalg.norm(p1 - self._p)), speed, accel)
            angular = _Trapezoid(rotation_between_rad(self._r, r1), speed * MOVEL_ANGULAR_PER_LINEAR,
                                 accel * MOVEL_ANGULAR_PER_LINEAR)
            profile = linear if linear.duration >= angular.duration else angular
            self._motion = _LinearMove(self._p.copy(), self._r.copy(), p1, r1, profile, q_path)
            self._event("moveL", f"to {np.round(p1, 4).tolist()} in {profile.duration:.2f} s")

    def move_joints(self, q: np.ndarray, speed_rad_s: float, accel_rad_s2: float) -> None:
        with self._lock:
            self._require_running("moveJ")
            if self._force is not None:
                raise ArmCommandRejected("moveJ while in force mode; call forceModeStop first")
            q1 = np.asarray(q, dtype=float)
            limit = self._kinematics.dh.joint_limit_rad
            if q1.shape != (6,) or not np.all(np.isfinite(q1)) or np.any(np.abs(q1) > limit):
                raise ArmCommandRejected(f"moveJ refused: {np.round(np.degrees(q1), 1).tolist()} deg is outside the "
                                         f"joint limits (+/- {math.degrees(limit):.0f} deg)")
            speed = min(float(speed_rad_s), self.config.max_joint_speed_rad_s)
            accel = min(float(accel_rad_s2), self.config.max_joint_accel_rad_s2)
            if not (speed > 0 and accel > 0):
                raise ArmCommandRejected(f"moveJ needs speed and acceleration > 0, got {speed_rad_s}, {accel_rad_s2}")
            q0 = self._joints()
            profile = _Trapezoid(float(np.max(np.abs(q1 - q0))), speed, accel)
            self._motion = _JointMove(q0, q1, profile)
            self._event("moveJ", f"to {np.round(np.degrees(q1), 1).tolist()} deg in {profile.duration:.2f} s")

    def stop_motion(self, decel_mps2: float) -> None:
        with self._lock:
            self._require_link()
            if self._motion is not None:
                self._motion = None
                self._event("stopL")

    def force_mode(self, command: ForceModeCommand) -> None:
        with self._lock:
            self._require_running("forceMode")
            if not self.model.gain_scaling and command.gain_scaling != 1.0:
                raise ArmCommandRejected(f"forceMode refused: a {self.model.name} has no force-mode gain scaling "
                                         f"(asked for {command.gain_scaling:g})")
            if self._force is None:
                _, task_rot = split_pose(command.task_frame)
                self._force_axis = task_rot[:, 2].copy()
                self._force_speed = 0.0
                self._motion = None
                self._event("force_mode", f"entered: wrench {command.wrench}, damping {command.damping}, "
                                          f"gain {command.gain_scaling}")
            self._force = command

    def force_mode_stop(self) -> None:
        with self._lock:
            self._require_running("forceModeStop")
            if self._force is not None:
                self._force = None
                self._event("force_mode_stop", "client")

    def force_mode_active(self) -> bool | None:
        with self._lock:
            self._require_link()
            self._check_watchdog()
            if self._paused:
                return None          # a paused program: the controller cannot say
            return self._script_running and self._force is not None

    def zero_ft(self) -> None:
        with self._lock:
            self._require_running("zeroFtSensor")
            self._ft_zero = self._ft_raw()

    def joint_solution(self, pose: Pose, near_q: np.ndarray) -> np.ndarray:
        with self._lock:
            self._require_link()
            p, r = split_pose(pose)
            try:
                return self._kinematics.inverse(p, r, np.asarray(near_q, dtype=float))
            except InverseKinematicsError as exc:
                raise ArmCommandRejected(f"getInverseKinematics: {exc}") from None

    def speed_fraction(self) -> float:
        with self._lock:
            self._require_link()
            return self.config.speed_fraction

    def tcp_offset(self) -> Pose:
        with self._lock:
            self._require_link()
            return np.array([0.0, 0.0, self.config.tcp_offset_m, 0.0, 0.0, 0.0])

    def tcp_pose(self) -> Pose:
        with self._lock:
            self._require_link()
            return self._pose_vec.copy()

    def tcp_wrench(self) -> np.ndarray:
        with self._lock:
            self._require_link()
            return self._ft_raw() - self._ft_zero

    def joint_positions(self) -> np.ndarray:
        with self._lock:
            self._require_link()
            return self._joints().copy()

    def safety(self) -> SafetyState:
        with self._lock:
            if not (self._connected and self._link_up):
                return SafetyState(connected=False)
            self._check_watchdog()
            return SafetyState(True, self._protective, self._estop, self._robot_mode, self._safeguard, self._paused)

    # -- internals ------------------------------------------------------------------------------------

    def _event(self, what: str, detail: str = "") -> None:
        self.record.append(SimEvent(self._clock.t, what, detail))
        log.debug("sim t=%.3f %s %s", self._clock.t, what, detail)

    def _require_link(self) -> None:
        if not self._connected:
            raise ArmConnectionError("the simulated UR10 is not connected; call connect() first")
        if not self._link_up:
            raise ArmConnectionError("lost the RTDE connection to the simulated UR10")

    def _require_running(self, command: str) -> None:
        self._require_link()
        self._check_watchdog()
        if self._paused:
            raise ArmCommandRejected(f"{command} refused: the program is paused "
                                     f"({'safeguard stop' if self._safeguard else 'pause on the pendant'})")
        if not self._script_running:
            raise ArmCommandRejected(f"{command} refused: the control script is not running "
                                     "(protective or emergency stop, the watchdog stopped it, or it is still starting)")

    def _kicked(self, arrived_at: float | None = None) -> None:
        self._last_kick = self._clock.t
        self._last_kick_wall = time.monotonic() if arrived_at is None else max(self._last_kick_wall, arrived_at)

    def _check_watchdog(self) -> None:
        """The controller's watchdog, on both clocks: the simulated one and the wall (a stalled client)."""
        if not (self._script_running and self._watchdog_timeout is not None) or self._paused:
            return
        sim_gap = self._clock.t - self._last_kick if self.config.watchdog_clock == "sim_and_wall" else 0.0
        wall_gap = time.monotonic() - self._last_kick_wall
        wall_limit = max(self._watchdog_timeout, self.config.wall_watchdog_floor_s)
        if wall_gap > wall_limit and self._pending_input is not None and self._pending_input():
            wall_gap = 0.0                       # an update is waiting in the socket: the client is not silent
        if sim_gap > self._watchdog_timeout + 1e-9 or wall_gap > wall_limit:
            self._halt(f"RTDE watchdog: no kick for {max(sim_gap, wall_gap):.3f} s > {self._watchdog_timeout:.3f} s "
                       f"({'wall' if wall_gap > wall_limit else 'controller'} clock)")

    def _halt(self, reason: str) -> None:
        """The control script ends: no force mode, no motion."""
        if self._force is not None:
            self._event("force_mode_end", reason)
        self._force = None
        self._motion = None
        self._force_speed = 0.0
        self._script_starts_at = None
        self._watchdog_timeout = None
        if self._script_running:
            self._script_running = False
            self._event("script_stopped", reason)

    def _pause(self, reason: str) -> None:
        """The program pauses: the arm stops where it is; force mode is suspended, not ended."""
        self._paused = True
        self._motion = None
        self._force_speed = 0.0
        self._event("program_paused", reason)

    def _joints(self) -> np.ndarray:
        if not self._q_fresh:
            seed = self._q
            if isinstance(self._motion, _LinearMove):
                path = self._motion.q_path
                seed = path[int(round(self._motion.profile.fraction(self._motion.elapsed) * (len(path) - 1)))]
            self._q = self._kinematics.inverse(self._p, self._r, seed)
            self._q_fresh = True
        return self._q

    def _plan_linear(self, p1: np.ndarray, r1: np.ndarray) -> list[np.ndarray]:
        """Joint solutions along a movel, every 0.1 rad and 20 mm: refused if any is out of reach or past a limit."""
        angle = rotation_between_rad(self._r, r1)
        distance = float(np.linalg.norm(p1 - self._p))
        steps = max(2, math.ceil(angle / JOINT_PATH_STEP_RAD), math.ceil(distance / JOINT_PATH_STEP_M))
        seed = self._joints()
        path = [seed.copy()]
        try:
            for i in range(1, steps + 1):
                fraction = i / steps
                seed = self._kinematics.inverse(self._p + (p1 - self._p) * fraction,
                                                interpolate_rotation(self._r, r1, fraction), seed)
                path.append(seed.copy())
        except InverseKinematicsError as exc:
            raise ArmCommandRejected(f"moveL refused: {exc}") from None
        return path

    def _nearest_object(self, name: str | None) -> SceneObject:
        if name is not None:
            return self._scene.get(name)
        xy = self._p[:2]
        return min(self._scene.objects, key=lambda o: float(np.linalg.norm(np.array(o.position_m[:2]) - xy)))

    def _remove_object(self, name: str | None) -> None:
        if not self._scene.objects:
            return
        gone = self._nearest_object(name)
        remaining = tuple(o for o in self._scene.objects if o is not gone)
        self._scene = dataclasses.replace(self._scene, objects=remaining)
        self._event("object removed", gone.name)

    def _normal_force_n(self) -> float:
        """Force pressing gel and objects together [N], from the contact law, the table and any rigid obstacle."""
        yaw = math.atan2(self._r[1, 0], self._r[0, 0])
        force = 0.0
        contact = self._scene.contact_under(self._p, yaw)
        if contact is not None:
            elastic = self._scene.library.get(contact.obj.material).elastic
            force += self._contact.force_at_depth(contact.obj.shape, elastic, contact.depth_m)
        for surface_z in [*self._obstacles, self._scene.table_z_m]:
            force += self.config.obstacle_stiffness_n_per_m * max(0.0, surface_z - float(self._p[2]))
        return force

    def _draw_noise(self) -> np.ndarray:
        return self._rng.normal(0.0, 1.0, 6) * self._noise_sigma

    def _ft_raw(self) -> np.ndarray:
        """What the sensor reads before zeroing: the true wrench, offset, drift and noise."""
        gel_normal = self._r[:, 2]      # tool Z: out of the gel, into the object
        true = np.concatenate([-gel_normal * self._normal_force_n(), np.zeros(3)])
        return true + self._ft_offset + self._ft_drift * self._clock.t + self._ft_noise

    def _tick(self) -> None:
        """One 2 ms controller tick."""
        dt = CONTROLLER_PERIOD_S
        self._clock.t += dt
        self._ft_noise = self._draw_noise()
        if self._script_starts_at is not None and self._clock.t >= self._script_starts_at - 1e-9:
            self._script_starts_at = None
            self._script_running = True
            self._event("script_running")
        self._check_watchdog()
        if self._stalled or not self._script_running or self._paused:
            return
        slider = self.config.speed_fraction
        if self._force is not None:
            command = self._force
            # the controller regulates what it reads: the zeroed, noisy F/T value along the task axis
            read_n = -float((self._ft_raw() - self._ft_zero)[:3] @ self._force_axis)
            error_n = command.wrench[2] - read_n
            speed = ((1.0 - command.damping) * self._force_speed
                     + command.gain_scaling * error_n * dt / self.config.virtual_mass_kg)
            limit = command.limits[2] * slider
            self._force_speed = min(max(speed, -limit), limit)
            self._set_pose(self._p + self._force_axis * self._force_speed * dt, self._r)
        elif isinstance(self._motion, _LinearMove):
            move = self._motion
            move.elapsed += dt * slider
            s = move.profile.fraction(move.elapsed)
            self._set_pose(move.p0 + (move.p1 - move.p0) * s, interpolate_rotation(move.r0, move.r1, s))
            if move.elapsed >= move.profile.duration:
                self._set_pose(move.p1, move.r1)
                self._q, self._q_fresh = move.q_path[-1].copy(), False
                self._q = self._kinematics.inverse(self._p, self._r, self._q)
                self._q_fresh = True
                self._motion = None
        elif isinstance(self._motion, _JointMove):
            move = self._motion
            move.elapsed += dt * slider
            s = move.profile.fraction(move.elapsed)
            self._q = move.q0 + (move.q1 - move.q0) * s
            p, r = self._kinematics.forward(self._q)
            self._set_pose(p, r)
            self._q_fresh = True
            if move.elapsed >= move.profile.duration:
                self._motion = None

    def _set_pose(self, p: np.ndarray, r: np.ndarray) -> None:
        self._p, self._r = p, r
        self._pose_vec = make_pose(p, r)
        self._q_fresh = False
