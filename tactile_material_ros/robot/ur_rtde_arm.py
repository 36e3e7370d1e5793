"""The arm port over RTDE, with SDU Robotics' ur_rtde (``rtde_control`` / ``rtde_receive``).

- Control (moveL, forceMode, forceModeStop, zeroFtSensor, stopL, the watchdog and the
  500 Hz period helpers initPeriod / waitPeriod) goes through ``RTDEControlInterface``; state
  (TCP pose, TCP force, joint angles, protective / emergency stop, robot mode) comes from
  ``RTDEReceiveInterface``.
- ur_rtde is imported lazily, in ``connect``: the rest of the package works where it is absent.
- Force mode: damping and gain scaling are set before entering it (they only take effect then);
  the ``forceMode`` call itself is repeated every control period, as UR's examples do.
- The watchdog is armed at the start of each cycle and kicked every period; between cycles it
  lets the control script stop on purpose, so that no stale command can move the arm while
  nobody watches. ``prepare`` re-uploads the script for the next cycle, which is also how the
  arm resumes after a protective stop has been cleared on the pendant.
- Only one RTDE client may control a robot: do not run this next to Universal_Robots_ROS2_Driver
  or an External Control program (docs/hardware.md).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from tactile_material_ros.robot.arm_port import (
    ArmCommandRejected,
    ArmConnectionError,
    ArmError,
    ForceModeCommand,
    SafetyState,
)
from tactile_material_ros.robot.poses import Pose

log = logging.getLogger(__name__)

DEFAULT_PERIOD_S = 0.002           # e-Series: 500 Hz; a CB3 reports 0.008 through getStepTime
WATCHDOG_MIN_FREQUENCY_HZ = 10.0

InterfaceFactory = Callable[[str], Any]


def connection_help(robot_ip: str, cause: BaseException | str) -> str:
    """The one error a user sees when the robot cannot be reached: what failed and what to check."""
    return (
        f"cannot connect to the UR controller at {robot_ip} over RTDE (port 30004): {cause}. Check that: "
        f"the robot is powered on and reachable from this computer (ping {robot_ip}); {robot_ip} is the robot's "
        "address (pendant: Settings > System > Network); an e-Series robot is in Remote Control mode (pendant, top "
        "right); no other RTDE client controls it (stop Universal_Robots_ROS2_Driver and any External Control "
        "program first: only one client may control a robot)."
    )


def _real_interfaces() -> tuple[InterfaceFactory, InterfaceFactory]:
    try:
        import rtde_control
        import rtde_receive
    except ImportError as exc:
        raise ArmError(f"ur_rtde is not installed ({exc}); install it with `pip install ur_rtde==1.6.5`") from exc
    return rtde_control.RTDEControlInterface, rtde_receive.RTDEReceiveInterface


class UrRtdeArm:
    """A real UR behind the arm port.

    ``control_factory`` / ``receive_factory`` build the two RTDE interfaces from the robot's IP
    (default: ur_rtde's classes); ``clock`` is the arm-side clock (default: ``time.monotonic``).
    Tests replace these three at this boundary, and nothing else.
    """

    def __init__(
        self,
        robot_ip: str,
        *,
        watchdog_min_frequency_hz: float = WATCHDOG_MIN_FREQUENCY_HZ,
        control_factory: InterfaceFactory | None = None,
        receive_factory: InterfaceFactory | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not robot_ip:
            raise ValueError("robot_ip is empty; set it to the robot's address, e.g. 192.168.1.10")
        self.robot_ip = robot_ip
        self._watchdog_hz = watchdog_min_frequency_hz
        self._control_factory = control_factory
        self._receive_factory = receive_factory
        self._clock = clock
        self._control: Any = None
        self._receive: Any = None
        self._period_s = DEFAULT_PERIOD_S
        self._in_force_mode = False

    # -- properties --------------------------------------------------------------------------------------

    @property
    def description(self) -> str:
        return f"UR at {self.robot_ip} (ur_rtde)"

    @property
    def period_s(self) -> float:
        return self._period_s

    @property
    def watchdog_timeout_s(self) -> float:
        return 1.0 / self._watchdog_hz

    # -- connection --------------------------------------------------------------------------------------

    def connect(self) -> None:
        if self._control_factory is None or self._receive_factory is None:
            control_cls, receive_cls = _real_interfaces()
            self._control_factory = self._control_factory or control_cls
            self._receive_factory = self._receive_factory or receive_cls
        try:
            self._receive = self._receive_factory(self.robot_ip)
            self._control = self._control_factory(self.robot_ip)
        except RuntimeError as exc:
            self._receive = self._control = None
            raise ArmConnectionError(connection_help(self.robot_ip, exc)) from exc
        step = float(self._control.getStepTime())
        self._period_s = step if step > 0.0 else DEFAULT_PERIOD_S
        log.info("connected to %s, control period %.4f s", self.description, self._period_s)

    def disconnect(self) -> None:
        if self._control is None:
            return
        try:
            if self._in_force_mode:
                self._control.forceModeStop()
            self._control.stopScript()
            self._control.disconnect()
            self._receive.disconnect()
        except RuntimeError as exc:
            log.warning("while disconnecting from %s: %s", self.description, exc)
        finally:
            self._control = self._receive = None
            self._in_force_mode = False

    def prepare(self) -> None:
        with self._link("prepare"):
            if self._receive.isEmergencyStopped() or self._receive.isProtectiveStopped():
                raise ArmCommandRejected("a protective or emergency stop is active: clear it on the pendant first")
            if not self._control.isProgramRunning():
                log.info("the control script is not running (protective stop cleared, or the watchdog stopped it "
                         "after the last cycle); re-uploading it")
                self._check(self._control.reuploadScript(), "reuploadScript")
            self._check(self._control.setWatchdog(self._watchdog_hz), "setWatchdog")
            self._in_force_mode = False

    # -- control loop ------------------------------------------------------------------------------------

    def now(self) -> float:
        return self._clock()

    def period_start(self) -> object:
        with self._link("initPeriod"):
            return self._control.initPeriod()

    def period_wait(self, token: object) -> None:
        with self._link("waitPeriod"):
            self._control.waitPeriod(token)

    def kick_watchdog(self) -> None:
        with self._link("kickWatchdog"):
            self._check(self._control.kickWatchdog(), "kickWatchdog")

    # -- commands ----------------------------------------------------------------------------------------

    def move_linear(self, pose: Pose, speed_mps: float, accel_mps2: float) -> None:
        with self._link("moveL"):
            ok = self._control.moveL(list(map(float, pose)), float(speed_mps), float(accel_mps2), True)
            self._check(ok, "moveL")

    def stop_motion(self, decel_mps2: float) -> None:
        with self._link("stopL"):
            self._control.stopL(float(decel_mps2))

    def force_mode(self, command: ForceModeCommand) -> None:
        with self._link("forceMode"):
            if not self._in_force_mode:
                self._check(self._control.forceModeSetDamping(command.damping), "forceModeSetDamping")
                self._check(self._control.forceModeSetGainScaling(command.gain_scaling), "forceModeSetGainScaling")
            task_frame = list(map(float, command.task_frame))
            selection_vector = list(command.selection_vector)
            wrench = list(command.wrench)
            force_type = int(command.type)
            limits = list(command.limits)
            self._check(self._control.forceMode(task_frame, selection_vector, wrench, force_type, limits), "forceMode")
            self._in_force_mode = True

    def force_mode_stop(self) -> None:
        with self._link("forceModeStop"):
            self._check(self._control.forceModeStop(), "forceModeStop")
            self._in_force_mode = False

    def force_mode_active(self) -> bool | None:
        with self._link("isProgramRunning"):
            if not self._control.isConnected():
                raise ArmConnectionError(f"cannot ask {self.description} whether force mode is on: no connection")
            if not self._control.isProgramRunning():
                self._in_force_mode = False   # force mode lives in the control script
            return self._in_force_mode

    def zero_ft(self) -> None:
        with self._link("zeroFtSensor"):
            self._check(self._control.zeroFtSensor(), "zeroFtSensor")

    # -- state -------------------------------------------------------------------------------------------

    def tcp_pose(self) -> Pose:
        with self._link("getActualTCPPose"):
            return np.asarray(self._receive.getActualTCPPose(), dtype=float)

    def tcp_wrench(self) -> np.ndarray:
        with self._link("getActualTCPForce"):
            return np.asarray(self._receive.getActualTCPForce(), dtype=float)

    def joint_positions(self) -> np.ndarray:
        with self._link("getActualQ"):
            return np.asarray(self._receive.getActualQ(), dtype=float)

    def safety(self) -> SafetyState:
        if self._control is None or self._receive is None:
            return SafetyState(connected=False)
        try:
            if not (self._control.isConnected() and self._receive.isConnected()):
                return SafetyState(connected=False)
            return SafetyState(
                connected=True,
                protective_stopped=bool(self._receive.isProtectiveStopped()),
                emergency_stopped=bool(self._receive.isEmergencyStopped()),
                robot_mode=int(self._receive.getRobotMode()),
            )
        except RuntimeError as exc:
            log.warning("reading the safety state of %s failed: %s", self.description, exc)
            return SafetyState(connected=False)

    # -- helpers -----------------------------------------------------------------------------------------

    @contextmanager
    def _link(self, what: str) -> Iterator[None]:
        """Run one RTDE exchange; a lost link or an exception from ur_rtde becomes an ArmError."""
        if self._control is None or self._receive is None:
            raise ArmConnectionError(f"{what}: not connected to {self.description}; call connect() first")
        try:
            yield
        except ArmError:
            raise
        except RuntimeError as exc:
            if not self._control.isConnected():
                raise ArmConnectionError(f"{what}: lost the RTDE connection to {self.description}: {exc}") from exc
            raise ArmCommandRejected(f"{what} failed on {self.description}: {exc}") from exc

    def _check(self, ok: object, what: str) -> None:
        if ok is False:
            raise ArmCommandRejected(f"{what} refused by {self.description}: the control script is not running or the "
                                     "controller rejected the values (protective stop? unreachable pose?)")
