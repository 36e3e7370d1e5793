"""The arm port: exactly what the palpation routine needs from a robot arm, and nothing more.

Two adapters implement it: ``ur_rtde_arm.UrRtdeArm`` (a real UR over RTDE) and
``sim_arm.SimArm`` (a simulated UR10 against the scene). The routine and the node only see
this protocol.

Units and frames: SI throughout; poses are ``[x, y, z, rx, ry, rz]`` in the ``base`` frame (see
``poses``). The wrench is the force and torque that the environment exerts on the tool, at the
TCP, expressed in base-frame axes (what RTDE's ``actual_TCP_force`` reports): pressing straight
down on an object gives a positive base-Z force.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from tactile_material_ros.robot.cell import ArmModel
from tactile_material_ros.robot.poses import Pose

# The UR controller's movel: the angular speed and acceleration of the tool are 4x the
# linear values (in rad/s, rad/s^2); linear and angular trapezoid profiles are planned apart
# and the slower one sets the duration (UR forum, "MoveL: Tool Angular Speed", UR support answer).
MOVEL_ANGULAR_PER_LINEAR = 4.0



def trapezoid_duration_s(length: float, speed: float, accel: float) -> float:
    """Time of a rest-to-rest move of ``length`` under a speed and an acceleration limit."""
    if length <= 0.0:
        return 0.0
    if length <= speed**2 / accel:        # never reaches cruise speed
        return 2.0 * math.sqrt(length / accel)
    return length / speed + speed / accel


def movel_duration_s(distance_m: float, angle_rad: float, speed_mps: float, accel_mps2: float) -> float:
    """How long the controller's movel takes at full speed: the slower of the linear and angular profiles."""
    return max(trapezoid_duration_s(distance_m, speed_mps, accel_mps2),
               trapezoid_duration_s(angle_rad, speed_mps * MOVEL_ANGULAR_PER_LINEAR,
                                    accel_mps2 * MOVEL_ANGULAR_PER_LINEAR))


ROBOT_MODE_NAMES = {
    -1: "no_controller", 0: "disconnected", 1: "confirm_safety", 2: "booting", 3: "power_off",
    4: "power_on", 5: "idle", 6: "backdrive", 7: "running", 8: "updating_firmware",
}
ROBOT_MODE_RUNNING = 7

# RTDE runtime_state (what ur_rtde's RTDEReceiveInterface.getRuntimeState returns): the state of
# the program on the controller, here the ur_rtde control script.
RUNTIME_STATE_NAMES = {0: "stopping", 1: "stopped", 2: "playing", 3: "pausing", 4: "paused", 5: "resuming"}
RUNTIME_STATE_PLAYING = 2
RUNTIME_STATES_PAUSED = (3, 4, 5)


class ArmError(RuntimeError):
    """The arm could not do what was asked."""


class ArmConnectionError(ArmError):
    """No connection to the arm controller (at start-up, or lost during a cycle)."""


class ArmSetupError(ArmError):
    """The controller does not match the configuration (model, TCP offset): nothing was moved."""


class ArmCommandRejected(ArmError):
    """The controller refused a command (protective stop, control script not running, unreachable pose)."""


@dataclass(frozen=True)
class SafetyState:
    """What the controller says about itself."""

    connected: bool
    protective_stopped: bool = False
    emergency_stopped: bool = False
    robot_mode: int = ROBOT_MODE_RUNNING
    safeguard_stopped: bool = False
    program_paused: bool = False          # the control script is paused (pendant pause, safeguard stop)

    @property
    def robot_mode_name(self) -> str:
        return ROBOT_MODE_NAMES.get(self.robot_mode, f"mode_{self.robot_mode}")

    @property
    def can_move(self) -> bool:
        return (self.connected and not self.protective_stopped and not self.emergency_stopped
                and not self.safeguard_stopped and not self.program_paused
                and self.robot_mode == ROBOT_MODE_RUNNING)


@dataclass(frozen=True)
class ForceModeCommand:
    """One force-mode request, with the fields named as in URScript's ``force_mode``.

    task_frame: pose of the force frame in the base frame (here: the TCP pose at press start).
    selection_vector: 1 = compliant along/about that axis of the task frame, 0 = position-held.
    wrench: force [N] / torque [N m] the robot applies to the environment on compliant axes.
    type: 2 = the task frame is used as given (not transformed).
    limits: compliant axes: maximum TCP speed [m/s, rad/s]; others: maximum deviation [m, rad].
    damping: 0..1, how fast the TCP loses speed when no force acts (set before force mode).
    gain_scaling: 0..2, scales the force controller's gain (set before force mode).
    """

    task_frame: Pose
    selection_vector: tuple[int, int, int, int, int, int]
    wrench: tuple[float, float, float, float, float, float]
    type: int
    limits: tuple[float, float, float, float, float, float]
    damping: float
    gain_scaling: float

    @classmethod
    def press_along_tool_z(
        cls, tcp_pose: Pose, force_n: float, speed_limit_mps: float, damping: float, gain_scaling: float,
        deviation_limit_m: float = 0.001, deviation_limit_rad: float = 0.01,
    ) -> ForceModeCommand:
        """Compliant along tool Z only, pushing ``force_n`` into the object; all else held in place."""
        return cls(
            task_frame=np.asarray(tcp_pose, dtype=float).copy(),
            selection_vector=(0, 0, 1, 0, 0, 0),
            wrench=(0.0, 0.0, float(force_n), 0.0, 0.0, 0.0),
            type=2,
            limits=(deviation_limit_m, deviation_limit_m, float(speed_limit_mps),
                    deviation_limit_rad, deviation_limit_rad, deviation_limit_rad),
            damping=float(damping),
            gain_scaling=float(gain_scaling),
        )


@dataclass(frozen=True)
class ArmSample:
    """One reading of the arm, on the arm's clock."""

    t: float
    tcp_pose: Pose
    wrench: np.ndarray = field(repr=False)
    joint_positions: np.ndarray | None = field(default=None, repr=False)


@runtime_checkable
class ArmPort(Protocol):
    """A robot arm as the palpation routine uses it.

    Motion and force commands raise ``ArmConnectionError`` when the link is gone and
    ``ArmCommandRejected`` when the controller refuses; state reads raise ``ArmConnectionError``.
    """

    @property
    def description(self) -> str:
        """Human-readable identity for logs and diagnostics (e.g. ``ur_rtde 192.168.1.10``)."""
        ...

    @property
    def period_s(self) -> float:
        """Control-loop period (0.002 s: the UR controller's 500 Hz)."""
        ...

    @property
    def watchdog_timeout_s(self) -> float:
        """How long after the last watchdog kick the controller stops on its own."""
        ...

    @property
    def model(self) -> ArmModel:
        """CB3 or e-Series, as detected at ``connect`` (RTDE period) or configured."""
        ...

    def connect(self) -> None:
        """Open the connection; ``ArmConnectionError`` names the address and what to check."""

    def disconnect(self) -> None:
        """Stop the control script on the controller and close the connection."""

    def prepare(self) -> None:
        """Make the controller take commands: re-upload the control script if it stopped, arm the watchdog."""

    def now(self) -> float:
        """Monotonic time of the arm's clock [s]."""
        ...

    def period_start(self) -> object:
        """Start one control period (``initPeriod``); returns a token for ``period_wait``."""
        ...

    def period_wait(self, token: object) -> None:
        """Wait for the end of the period started with ``token`` (``waitPeriod``). Never talks to the arm."""

    def kick_watchdog(self) -> None:
        """Tell the controller the client is alive (once per period while a cycle runs)."""

    def move_linear(self, pose: Pose, speed_mps: float, accel_mps2: float) -> None:
        """Start a straight-line TCP move to ``pose`` and return at once (asynchronous ``moveL``)."""

    def move_joints(self, q: np.ndarray, speed_rad_s: float, accel_rad_s2: float) -> None:
        """Start a joint-space move to ``q`` and return at once (asynchronous ``moveJ``)."""

    def joint_solution(self, pose: Pose, near_q: np.ndarray) -> np.ndarray:
        """The controller's inverse kinematics: joints that reach ``pose``, nearest ``near_q``."""
        ...

    def speed_fraction(self) -> float:
        """The speed slider on the pendant, 0..1 (``target_speed_fraction``): all motion runs this much slower."""
        ...

    def tcp_offset(self) -> Pose:
        """The TCP offset set on the controller, flange frame ``[x, y, z, rx, ry, rz]``."""
        ...

    def stop_motion(self, decel_mps2: float) -> None:
        """Decelerate any linear motion to rest."""

    def force_mode(self, command: ForceModeCommand) -> None:
        """Enter (or stay in) force mode; damping and gain scaling are set before entering."""

    def force_mode_stop(self) -> None:
        """Leave force mode."""

    def force_mode_active(self) -> bool | None:
        """Whether the controller is in force mode, as read from the controller; None when it cannot be told
        (a paused program, an unacknowledged forceModeStop). Never the client's own guess."""
        ...

    def zero_ft(self) -> None:
        """Zero the force/torque reading (subtract the present reading from all later ones)."""

    def tcp_pose(self) -> Pose:
        """Actual TCP pose in the base frame."""
        ...

    def tcp_wrench(self) -> np.ndarray:
        """Actual wrench on the TCP (force the environment exerts on the tool), base-frame axes."""
        ...

    def joint_positions(self) -> np.ndarray:
        """Actual joint angles [rad], in ``ur_kinematics.JOINT_NAMES`` order."""
        ...

    def safety(self) -> SafetyState:
        """Connection, protective / emergency / safeguard stop, paused program and robot mode. Never raises."""
        ...
