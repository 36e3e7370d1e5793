"""A simulated UR10 that implements the arm port against the scene's objects.

What is modelled, and how:
- Kinematics: the UR10's DH parameters (``ur_kinematics``); joint angles come from inverse
  kinematics of the TCP pose, started from the previous solution; a move to a pose without a
  joint solution is refused, as the controller refuses it.
- Motion: ``move_linear`` is the controller's movel: straight line, linear and angular
  trapezoid profiles (angular speed and acceleration = 4x the linear values), the slower one
  sets the duration; speed and acceleration are capped at the arm's limits.
- Force mode: an admittance along the task frame's Z axis, advanced at the controller's 500 Hz
  tick: ``v <- (1 - damping) v + gain_scaling * (F_cmd - F_contact) * dt / M``, clamped to the
  compliant-axis speed limit; all other axes are held. ``M`` (a virtual mass) stands for the
  controller's admittance, not for the arm's inertia. With it, force settles smoothly on the
  balls and rings on a rigid object, as UR force mode does at high gain.
- Contact: the gel face (the TCP) against the scene via ``Scene.contact_under`` and the same
  ``ContactModel`` as the tactile renderer, so force rises with indentation at each material's
  stiffness. The tool is assumed to face down (the routine checks this before it moves).
- F/T sensor: the true contact wrench plus an offset, a slow drift and white noise; ``zero_ft``
  subtracts the present reading, as ``zero_ftsensor()`` does.
- Controller state: protective and emergency stops end the control script (and with it force
  mode and any motion); the RTDE watchdog stops the script when the client stops kicking it.
- Clock: simulated time advances only in ``period_wait`` (lockstep with the client's control
  loop), at real time (``real_time_factor=1``) or as fast as the CPU allows (``None``).
- Fault injection (``inject``): lost_link, protective_stop, emergency_stop, overshoot (a stiff
  hidden object pressed into the gel face), no_contact (the object under the tool removed), stall
  (commands accepted, nothing moves).

The controller's own record (``record``, ``controller_in_force_mode``) is the truth that tests
check; the port methods answer the way the real controller would, e.g. not at all over a lost link.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
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
from tactile_material_ros.sim.scene import Scene

log = logging.getLogger(__name__)

CONTROLLER_PERIOD_S = 0.002          # the UR controller's 500 Hz tick
WATCHDOG_MIN_FREQUENCY_HZ = 10.0     # as the ur_rtde adapter arms it
ROBOT_MODE_POWER_OFF = 3
# Elbow-up, wrist-down joint configuration that seeds the home pose's inverse kinematics.
HOME_SEED_Q = (math.pi, -1.57, 1.57, -1.57, -1.57, 0.0)


class SimFault(StrEnum):
    LOST_LINK = "lost_link"
    PROTECTIVE_STOP = "protective_stop"
    EMERGENCY_STOP = "emergency_stop"
    OVERSHOOT = "overshoot"
    NO_CONTACT = "no_contact"
    STALL = "stall"

    @classmethod
    def parse(cls, name: str) -> SimFault:
        try:
            return cls(name)
        except ValueError:
            raise ValueError(f"unknown fault {name!r}; known: {', '.join(f.value for f in cls)}") from None


@dataclass(frozen=True)
class SimArmConfig:
    """The simulated arm and its sensor. Defaults: a UR10 above the four-ball scene."""

    home_position_m: tuple[float, float, float] = (0.65, 0.0, 0.20)
    home_tool_angle_deg: float = 0.0
    tcp_offset_m: float = 0.06               # flange to gel surface along flange Z
    real_time_factor: float | None = None    # None: as fast as possible; 1.0: real time
    virtual_mass_kg: float = 10.0            # force-mode admittance mass
    max_tool_speed_mps: float = 1.0
    max_tool_accel_mps2: float = 4.0
    ft_noise_n: float = 0.25                 # white noise per 500 Hz sample, 1 sigma
    ft_torque_noise_nm: float = 0.01
    ft_offset_n: float = 3.0                 # initial offset, 1 sigma per axis
    ft_drift_n_per_s: float = 0.05           # slow drift, 1 sigma per axis
    obstacle_stiffness_n_per_m: float = 1.0e6
    obstacle_interference_m: float = 0.0002  # how far the injected hidden object presses into the gel face
    seed: int = 0

    def __post_init__(self) -> None:
        if self.real_time_factor is not None and not self.real_time_factor > 0:
            raise ValueError(f"real_time_factor must be > 0 or None (as fast as possible), got {self.real_time_factor}")
        for name in ("tcp_offset_m", "virtual_mass_kg", "max_tool_speed_mps", "max_tool_accel_mps2",
                     "obstacle_stiffness_n_per_m"):
            if not getattr(self, name) > 0:
                raise ValueError(f"SimArmConfig.{name} must be > 0, got {getattr(self, name)}")


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
    t0: float
    profile: _Trapezoid


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
        self._protective = False
        self._estop = False
        self._robot_mode = ROBOT_MODE_RUNNING
        self._stalled = False
        self._watchdog_timeout: float | None = None
        self._last_kick = 0.0
        # kinematic state
        home_rot = tool_down(math.radians(self.config.home_tool_angle_deg))
        self._q = self._kinematics.inverse(np.array(self.config.home_position_m), home_rot, np.array(HOME_SEED_Q))
        self._p, self._r = self._kinematics.forward(self._q)
        self._q_fresh = True
        self._pose_vec = make_pose(self._p, self._r)
        self._motion: _LinearMove | None = None
        self._force: ForceModeCommand | None = None
        self._force_axis = np.zeros(3)
        self._force_speed = 0.0
        self._obstacles: list[float] = []    # surface heights of injected rigid objects [m]
        # F/T sensor
        self._ft_offset = np.concatenate([self._rng.normal(0.0, self.config.ft_offset_n, 3),
                                          self._rng.normal(0.0, self.config.ft_offset_n * 0.02, 3)])
        self._ft_drift = np.concatenate([self._rng.normal(0.0, self.config.ft_drift_n_per_s, 3), np.zeros(3)])
        self._ft_zero = np.zeros(6)
        self._ft_noise = self._draw_noise()

    # -- the simulator's own interface (tests, fault injection, the node's sim mode) -----------------

    @property
    def controller_in_force_mode(self) -> bool:
        """Truth: is the controller in force mode right now (whatever the client believes)."""
        with self._lock:
            return self._script_running and self._force is not None

    def contact_force_n(self) -> float:
        """Truth: the normal force between gel and objects now [N]."""
        with self._lock:
            return self._normal_force_n()

    def inject(self, fault: SimFault | str, target: str | None = None) -> None:
        """Make ``fault`` happen now. ``target``: the object that no_contact removes (default: the one under the tool)."""
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
            elif fault is SimFault.OVERSHOOT:
                self._obstacles.append(float(self._p[2]) + self.config.obstacle_interference_m)
            elif fault is SimFault.NO_CONTACT:
                self._remove_object(target)
            elif fault is SimFault.STALL:
                self._stalled = True

    def add_obstacle(self, surface_z_m: float) -> None:
        """Put a rigid flat object (the configured stiffness) with its top at ``surface_z_m`` under everything."""
        with self._lock:
            self._obstacles.append(float(surface_z_m))

    @property
    def script_running(self) -> bool:
        """Whether the RTDE control script runs on the controller (what ``isProgramRunning`` reports)."""
        with self._lock:
            return self._script_running

    def upload_script(self) -> bool:
        """What ``reuploadScript`` does: start the control script if it is not running and no stop is active."""
        with self._lock:
            self._require_link()
            if self._estop or self._protective:
                return False
            if not self._script_running:
                self._script_running = True
                self._event("control script re-uploaded")
            return True

    def arm_watchdog(self, min_frequency_hz: float) -> None:
        """What ``setWatchdog`` does: the script stops if not kicked for 1 / min_frequency_hz."""
        with self._lock:
            self._require_running("setWatchdog")
            self._watchdog_timeout = 1.0 / min_frequency_hz
            self._last_kick = self._clock.t

    def clear_protective_stop(self) -> None:
        """What the operator does on the pendant; the control script stays stopped until ``prepare``."""
        with self._lock:
            self._protective = False
            self._event("protective stop cleared")

    # -- arm port --------------------------------------------------------------------------------------

    @property
    def description(self) -> str:
        return "simulated UR10"

    @property
    def period_s(self) -> float:
        return CONTROLLER_PERIOD_S

    @property
    def watchdog_timeout_s(self) -> float:
        return self._watchdog_timeout if self._watchdog_timeout is not None else 1.0 / WATCHDOG_MIN_FREQUENCY_HZ

    def connect(self) -> None:
        with self._lock:
            self._connected = True
            self._script_running = True
            self._event("connected", "control script uploaded")

    def disconnect(self) -> None:
        with self._lock:
            if self._connected and self._link_up:
                self._halt("client stopped the script")
            self._connected = False

    def prepare(self) -> None:
        with self._lock:
            if not self.upload_script():
                raise ArmCommandRejected(f"{'emergency' if self._estop else 'protective'} stop is active: "
                                         "clear it on the pendant before the next cycle")
            self.arm_watchdog(WATCHDOG_MIN_FREQUENCY_HZ)

    def now(self) -> float:
        return self._clock.t

    def period_start(self) -> object:
        return self._clock.t

    def period_wait(self, token: object) -> None:
        due = float(token) + CONTROLLER_PERIOD_S  # type: ignore[arg-type]
        with self._lock:
            while self._clock.t < due - 1e-9:
                self._tick()
        self._clock.pace()

    def kick_watchdog(self) -> None:
        with self._lock:
            self._require_link()
            self._last_kick = self._clock.t

    def move_linear(self, pose: Pose, speed_mps: float, accel_mps2: float) -> None:
        with self._lock:
            self._require_running("moveL")
            if self._force is not None:
                raise ArmCommandRejected("moveL while in force mode; call forceModeStop first")
            p1, r1 = split_pose(pose)
            self._check_reachable(p1, r1)
            speed = min(float(speed_mps), self.config.max_tool_speed_mps)
            accel = min(float(accel_mps2), self.config.max_tool_accel_mps2)
            if not (speed > 0 and accel > 0):
                raise ArmCommandRejected(f"moveL needs speed and acceleration > 0, got {speed_mps}, {accel_mps2}")
            linear = _Trapezoid(float(np.linalg.norm(p1 - self._p)), speed, accel)
            angular = _Trapezoid(rotation_between_rad(self._r, r1), speed * MOVEL_ANGULAR_PER_LINEAR,
                                 accel * MOVEL_ANGULAR_PER_LINEAR)
            profile = linear if linear.duration >= angular.duration else angular
            self._motion = _LinearMove(self._p.copy(), self._r.copy(), p1, r1, self._clock.t, profile)
            self._event("moveL", f"to {np.round(p1, 4).tolist()} in {profile.duration:.2f} s")

    def stop_motion(self, decel_mps2: float) -> None:
        with self._lock:
            self._require_link()
            if self._motion is not None:
                self._motion = None
                self._event("stopL")

    def force_mode(self, command: ForceModeCommand) -> None:
        with self._lock:
            self._require_running("forceMode")
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
            return self._script_running and self._force is not None

    def zero_ft(self) -> None:
        with self._lock:
            self._require_running("zeroFtSensor")
            self._ft_zero = self._ft_raw()

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
            if not self._q_fresh:
                self._q = self._kinematics.inverse(self._p, self._r, self._q)
                self._q_fresh = True
            return self._q.copy()

    def safety(self) -> SafetyState:
        with self._lock:
            if not (self._connected and self._link_up):
                return SafetyState(connected=False)
            return SafetyState(True, self._protective, self._estop, self._robot_mode)

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
        if not self._script_running:
            raise ArmCommandRejected(f"{command} refused: the control script is not running "
                                     "(protective or emergency stop, or the watchdog stopped it)")

    def _halt(self, reason: str) -> None:
        """The control script ends: no force mode, no motion."""
        if self._force is not None:
            self._event("force_mode_end", reason)
        self._force = None
        self._motion = None
        self._force_speed = 0.0
        if self._script_running:
            self._script_running = False
            self._event("script_stopped", reason)

    def _check_reachable(self, p1: np.ndarray, r1: np.ndarray) -> None:
        seed = self._q
        try:
            for fraction in (0.5, 1.0):
                p = self._p + (p1 - self._p) * fraction
                seed = self._kinematics.inverse(p, interpolate_rotation(self._r, r1, fraction), seed)
        except InverseKinematicsError as exc:
            raise ArmCommandRejected(f"moveL refused: {exc}") from None

    def _remove_object(self, name: str | None) -> None:
        if not self._scene.objects:
            return
        if name is not None:
            gone = self._scene.get(name)
        else:
            xy = self._p[:2]
            gone = min(self._scene.objects, key=lambda o: float(np.linalg.norm(np.array(o.position_m[:2]) - xy)))
        remaining = tuple(o for o in self._scene.objects if o is not gone)
        self._scene = dataclasses.replace(self._scene, objects=remaining)
        self._event("object removed", gone.name)

    def _normal_force_n(self) -> float:
        """Force pressing gel and objects together [N], from the contact law and any rigid obstacle."""
        yaw = math.atan2(self._r[1, 0], self._r[0, 0])
        force = 0.0
        contact = self._scene.contact_under(self._p, yaw)
        if contact is not None:
            elastic = self._scene.library.get(contact.obj.material).elastic
            force += self._contact.force_at_depth(contact.obj.shape, elastic, contact.depth_m)
        for surface_z in self._obstacles:
            force += self.config.obstacle_stiffness_n_per_m * max(0.0, surface_z - float(self._p[2]))
        return force

    def _draw_noise(self) -> np.ndarray:
        return np.concatenate([self._rng.normal(0.0, self.config.ft_noise_n, 3),
                               self._rng.normal(0.0, self.config.ft_torque_noise_nm, 3)])

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
        if (self._script_running and self._watchdog_timeout is not None
                and self._clock.t - self._last_kick > self._watchdog_timeout):
            self._halt("RTDE watchdog: no kick for "
                       f"{self._clock.t - self._last_kick:.3f} s > {self._watchdog_timeout:.3f} s")
        if self._stalled or not self._script_running:
            return
        if self._force is not None:
            command = self._force
            error_n = command.wrench[2] - self._normal_force_n()
            speed = ((1.0 - command.damping) * self._force_speed
                     + command.gain_scaling * error_n * dt / self.config.virtual_mass_kg)
            limit = command.limits[2]
            self._force_speed = min(max(speed, -limit), limit)
            self._set_pose(self._p + self._force_axis * self._force_speed * dt, self._r)
        elif self._motion is not None:
            move = self._motion
            duration = move.profile.duration
            elapsed = self._clock.t - move.t0
            s = move.profile.fraction(elapsed)
            self._set_pose(move.p0 + (move.p1 - move.p0) * s, interpolate_rotation(move.r0, move.r1, s))
            if elapsed >= duration:
                self._set_pose(move.p1, move.r1)
                self._motion = None

    def _set_pose(self, p: np.ndarray, r: np.ndarray) -> None:
        self._p, self._r = p, r
        self._pose_vec = make_pose(p, r)
        self._q_fresh = False
