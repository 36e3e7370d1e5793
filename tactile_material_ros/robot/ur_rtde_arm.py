"""The arm port over RTDE, with SDU Robotics' ur_rtde 1.6.5 (``rtde_control`` / ``rtde_receive``).

- Control (moveL, moveJ, forceMode, forceModeStop, zeroFtSensor, stopL, the watchdog, the
  controller's inverse kinematics and TCP offset, and the period helpers initPeriod / waitPeriod)
  goes through ``RTDEControlInterface``; state (TCP pose, TCP force, joint angles, protective /
  emergency stop, safety status bits, robot status, runtime state, speed slider, robot mode)
  comes from ``RTDEReceiveInterface``.
- ur_rtde is imported lazily, in ``connect``: the rest of the package works where it is absent.
- At ``connect``: the RTDE period (``getStepTime``) tells a CB3 (0.008 s, 125 Hz) from an
  e-Series (0.002 s, 500 Hz), checked against the configured ``arm_model``; the controller's TCP
  offset (``getTCPOffset``) is checked against the configured one. A mismatch is an
  ``ArmSetupError`` before anything moves.
- The control script's lifecycle: ``reuploadScript`` in 1.6.5 sends the script and returns without
  waiting for it to run; until it runs, every command is refused. ``prepare`` therefore waits, paced
  by initPeriod / waitPeriod, until ``isProgramRunning``, the program-running bit of
  ``getRobotStatus`` (bit 1) and ``getRuntimeState`` (2 = playing) all say so, with a timeout,
  before it arms the watchdog.
- Safety: ``getSafetyStatusBits`` bit 2 protective stop, bit 4 safeguard stop, bits 5-7 emergency
  stop; ``getRuntimeState`` 3 / 4 / 5 (pausing, paused, resuming) is a paused program.
- ``force_mode_active`` answers from the controller only: the program not running means no force
  mode (force mode lives in the control script); a paused program means "cannot tell" (None);
  otherwise the controller's acknowledgement of the last forceMode / forceModeStop (ur_rtde returns
  True once the script has executed a command); an unacknowledged stop is None. Never a guess.
- Force mode: damping (and, on an e-Series, gain scaling; a CB3 has none) are set before entering it;
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
    RUNTIME_STATE_NAMES,
    RUNTIME_STATE_PLAYING,
    RUNTIME_STATES_PAUSED,
    ArmCommandRejected,
    ArmConnectionError,
    ArmError,
    ArmSetupError,
    ForceModeCommand,
    SafetyState,
)
from tactile_material_ros.robot.cell import E_SERIES, ArmModel, CellError, TcpCheck, model_from_period, resolve_model
from tactile_material_ros.robot.poses import Pose

log = logging.getLogger(__name__)

WATCHDOG_MIN_FREQUENCY_HZ = 10.0
SCRIPT_START_TIMEOUT_S = 2.0
STEP_TIME_RETRY_S = 0.02                       # getStepTime asked again after this long (a 125 Hz period x 2.5)
ROBOT_STATUS_PROGRAM_RUNNING = 1 << 1          # getRobotStatus bit 1
SAFETY_BIT_PROTECTIVE = 1 << 2                 # getSafetyStatusBits
SAFETY_BIT_SAFEGUARD = 1 << 4
SAFETY_BITS_EMERGENCY = (1 << 5) | (1 << 6) | (1 << 7)

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

    ``arm_model``: ``auto`` (detected from the RTDE period), ``cb3`` or ``e_series`` (checked against
    the detection). ``tcp_check``: the TCP offset the controller must report (None: not checked).
    ``control_factory`` / ``receive_factory`` build the two RTDE interfaces from the robot's IP
    (default: ur_rtde's classes); ``clock`` is the arm-side clock (default: ``time.monotonic``).
    Tests replace these three at this boundary, and nothing else.
    """

    def __init__(
        self,
        robot_ip: str,
        *,
        arm_model: str = "auto",
        tcp_check: TcpCheck | None = None,
        watchdog_min_frequency_hz: float = WATCHDOG_MIN_FREQUENCY_HZ,
        script_start_timeout_s: float = SCRIPT_START_TIMEOUT_S,
        control_factory: InterfaceFactory | None = None,
        receive_factory: InterfaceFactory | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not robot_ip:
            raise ValueError("robot_ip is empty; set it to the robot's address, e.g. 192.168.1.10")
        self.robot_ip = robot_ip
        self._configured_model = arm_model
        self._tcp_check = tcp_check
        self._watchdog_hz = watchdog_min_frequency_hz
        self._script_start_timeout_s = script_start_timeout_s
        self._control_factory = control_factory
        self._receive_factory = receive_factory
        self._clock = clock
        self._control: Any = None
        self._receive: Any = None
        self._model: ArmModel = E_SERIES
        self._force_acknowledged: bool | None = False   # force mode as the controller last acknowledged it

    # -- properties --------------------------------------------------------------------------------------

    @property
    def description(self) -> str:
        return f"UR at {self.robot_ip} (ur_rtde, {self._model.name})"

    @property
    def period_s(self) -> float:
        return self._model.rtde_period_s

    @property
    def model(self) -> ArmModel:
        return self._model

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
        try:
            with self._link("getStepTime"):
                self._model = resolve_model(self._configured_model, model_from_period(self._step_time()))
            if self._tcp_check is not None:
                with self._link("getTCPOffset"):
                    problem = self._tcp_check.problem(np.asarray(self._control.getTCPOffset(), dtype=float))
                if problem:
                    raise ArmSetupError(problem)
        except (CellError, ArmSetupError) as exc:
            self.disconnect()
            raise ArmSetupError(f"{self.robot_ip}: {exc}") from None
        log.info("connected to %s, RTDE period %.4f s", self.description, self.period_s)

    def _step_time(self) -> float:
        """The controller's RTDE period. In 1.6.5 ``getStepTime`` is a real-time command: it returns the register
        as it stood when the command was sent, so the first call after connecting reads 0.0. Ask until two answers
        a few milliseconds apart agree on a non-zero period (found by the UR emulator, ``robot/ur_emulator``)."""
        previous = float(self._control.getStepTime())
        started = self._clock()
        while True:
            time.sleep(STEP_TIME_RETRY_S)
            value = float(self._control.getStepTime())
            if value > 0.0 and value == previous:
                return value
            if self._clock() - started > SCRIPT_START_TIMEOUT_S:
                return value                     # model_from_period names the value in its error
            previous = value

    def disconnect(self) -> None:
        if self._control is None:
            return
        try:
            if self._force_acknowledged is not False and self._control.isProgramRunning():
                self._control.forceModeStop()
            self._control.stopScript()
            self._control.disconnect()
            self._receive.disconnect()
        except RuntimeError as exc:
            log.warning("while disconnecting from %s: %s", self.description, exc)
        finally:
            self._control = self._receive = None

    def prepare(self) -> None:
        safety = self.safety()
        if not safety.connected:
            raise ArmConnectionError(f"prepare: not connected to {self.description}")
        if safety.emergency_stopped or safety.protective_stopped or safety.safeguard_stopped:
            raise ArmCommandRejected("a protective, safeguard or emergency stop is active: clear it on the pendant first")
        with self._link("prepare"):
            if safety.program_paused:
                raise ArmCommandRejected("the control script is paused: press Stop on the pendant, then palpate again")
            if not self._control.isProgramRunning():
                log.info("the control script is not running (protective stop cleared, or the watchdog stopped it "
                         "after the last cycle); re-uploading it")
                self._check(self._control.reuploadScript(), "reuploadScript")
                self._force_acknowledged = False
                self._await_script()
            self._check(self._control.setWatchdog(self._watchdog_hz), "setWatchdog")

    def _await_script(self) -> None:
        """ur_rtde 1.6.5's reuploadScript returns before the script runs: wait until the controller says it does."""
        started = self._clock()
        while True:
            if (self._control.isProgramRunning() and int(self._receive.getRobotStatus()) & ROBOT_STATUS_PROGRAM_RUNNING
                    and int(self._receive.getRuntimeState()) == RUNTIME_STATE_PLAYING):
                log.info("the control script runs after %.3f s", self._clock() - started)
                return
            if self._clock() - started > self._script_start_timeout_s:
                state = int(self._receive.getRuntimeState())
                raise ArmCommandRejected(f"the control script did not start within {self._script_start_timeout_s:g} s "
                                         f"after reuploadScript (runtime state "
                                         f"{RUNTIME_STATE_NAMES.get(state, state)}); check the pendant for a popup")
            self._control.waitPeriod(self._control.initPeriod())

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

    def move_joints(self, q: np.ndarray, speed_rad_s: float, accel_rad_s2: float) -> None:
        with self._link("moveJ"):
            ok = self._control.moveJ(list(map(float, q)), float(speed_rad_s), float(accel_rad_s2), True)
            self._check(ok, "moveJ")

    def stop_motion(self, decel_mps2: float) -> None:
        with self._link("stopL"):
            self._control.stopL(float(decel_mps2))

    def force_mode(self, command: ForceModeCommand) -> None:
        with self._link("forceMode"):
            if self._force_acknowledged is not True:
                self._check(self._control.forceModeSetDamping(command.damping), "forceModeSetDamping")
                if self._model.gain_scaling:
                    self._check(self._control.forceModeSetGainScaling(command.gain_scaling), "forceModeSetGainScaling")
                elif command.gain_scaling != 1.0:
                    raise ArmCommandRejected(f"gain_scaling = {command.gain_scaling:g}: a CB3 has no force-mode gain "
                                             "scaling; set gain_scaling=1.0")
            task_frame = list(map(float, command.task_frame))
            selection_vector = list(command.selection_vector)
            wrench = list(command.wrench)
            force_type = int(command.type)
            limits = list(command.limits)
            self._check(self._control.forceMode(task_frame, selection_vector, wrench, force_type, limits), "forceMode")
            self._force_acknowledged = True

    def force_mode_stop(self) -> None:
        self._force_acknowledged = None          # unknown until the controller acknowledges the stop
        with self._link("forceModeStop"):
            self._check(self._control.forceModeStop(), "forceModeStop")
            self._force_acknowledged = False

    def force_mode_active(self) -> bool | None:
        with self._link("isProgramRunning"):
            if not self._control.isConnected():
                raise ArmConnectionError(f"cannot ask {self.description} whether force mode is on: no connection")
            if int(self._receive.getRuntimeState()) in RUNTIME_STATES_PAUSED:
                return None                      # a paused script: the controller cannot say
            if not self._control.isProgramRunning():
                self._force_acknowledged = False
                return False                     # force mode ends with the control script
            return self._force_acknowledged

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

    def joint_solution(self, pose: Pose, near_q: np.ndarray) -> np.ndarray:
        with self._link("getInverseKinematics"):
            return np.asarray(self._control.getInverseKinematics(list(map(float, pose)), list(map(float, near_q))),
                              dtype=float)

    def speed_fraction(self) -> float:
        with self._link("getTargetSpeedFraction"):
            return float(self._receive.getTargetSpeedFraction())

    def tcp_offset(self) -> Pose:
        with self._link("getTCPOffset"):
            return np.asarray(self._control.getTCPOffset(), dtype=float)

    def safety(self) -> SafetyState:
        if self._control is None or self._receive is None:
            return SafetyState(connected=False)
        try:
            if not (self._control.isConnected() and self._receive.isConnected()):
                return SafetyState(connected=False)
            bits = int(self._receive.getSafetyStatusBits())
            return SafetyState(
                connected=True,
                protective_stopped=bool(self._receive.isProtectiveStopped()) or bool(bits & SAFETY_BIT_PROTECTIVE),
                emergency_stopped=bool(self._receive.isEmergencyStopped()) or bool(bits & SAFETY_BITS_EMERGENCY),
                robot_mode=int(self._receive.getRobotMode()),
                safeguard_stopped=bool(bits & SAFETY_BIT_SAFEGUARD),
                program_paused=int(self._receive.getRuntimeState()) in RUNTIME_STATES_PAUSED,
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

