"""The emulated UR controller: the simulated UR10, the RTDE registers, and ur_rtde's control script.

It does not interpret URScript. ``script_interface`` hands it a program only after recognising
it as ur_rtde's control script (``ControlScript``); the controller then serves that script's
register protocol, as read from ur_rtde's public sources (``scripts/rtde_control.script`` and
``src/rtde_control_interface.cpp``, the script of 14.02.2024 that ur_rtde 1.6.5 ships):

- The command id is in ``input_int_register_<offset>`` (offset 0, or 24 with ur_rtde's upper-range
  flag); parameters in the input int registers after it and the input double registers from the
  offset on; results in ``output_double_register_<offset>..`` and ``output_int_register_<offset+1>``.
- ``output_int_register_<offset>`` is the script's state: 1 = ready for a command, 2 = done with it.
  Once per controller cycle (the script's ``sync()``): real-time commands (force mode, servo/speed,
  get step time, ...) are processed and the state goes back to 1 at once; any other command is
  processed once, the state becomes 2 (a blocking move: when it ends), and it stays "executing"
  until the client clears the command register to 0, which makes the state 1 again.
- Command 255 ends the script. ``setWatchdog`` arms the controller's RTDE watchdog on the command
  register with the action "stop": the program stops when no input package has updated that
  register for 1 / min_frequency seconds (``SimArm``'s watchdog, kicked by every such package). The
  watchdog runs on the wall clock and each kick counts from the kernel's arrival stamp of its
  package (``arrival_stamps``), so a reader thread that runs late on a busy machine is not taken
  for a silent client; a trip means the client really sent nothing for that long.
- A command id that the script does not know, or one this emulator does not serve, is an error
  that names the id; the script stops, as a URScript runtime error would stop it. Never ignored.

The physics (kinematics, force mode, contact with the scene, stops, start delay) is ``SimArm``,
paced at real time; one loop iteration here is one RTDE period of the model (2 ms e-Series,
8 ms CB3), after which the RTDE sessions publish a data package.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from tactile_material_ros.robot.arm_port import ArmError, ForceModeCommand
from tactile_material_ros.robot.cell import ARM_MODELS
from tactile_material_ros.robot.sim_arm import SimArm, SimArmConfig, SimFault
from tactile_material_ros.sim.scene import Scene

log = logging.getLogger(__name__)

REGISTER_COUNT = 48                       # input/output int and double registers 0..47
SCRIPT_READY, SCRIPT_DONE = 1, 2          # output_int_register_<offset>: the control script's state

# RTDE runtime_state, safety_mode, robot_status_bits and safety_status_bits (UR's RTDE guide)
RUNTIME_STOPPED, RUNTIME_PLAYING, RUNTIME_PAUSED = 1, 2, 4
SAFETY_MODE_NORMAL, SAFETY_MODE_PROTECTIVE, SAFETY_MODE_SAFEGUARD, SAFETY_MODE_ROBOT_ESTOP = 1, 3, 5, 7
ROBOT_STATUS_POWER_ON, ROBOT_STATUS_PROGRAM_RUNNING = 1 << 0, 1 << 1
SAFETY_BIT_NORMAL, SAFETY_BIT_PROTECTIVE, SAFETY_BIT_SAFEGUARD = 1 << 0, 1 << 2, 1 << 4
SAFETY_BIT_ROBOT_ESTOP, SAFETY_BIT_EMERGENCY = 1 << 6, 1 << 7

# ur_rtde's command ids (RTDE::RobotCommand::Type in ur_rtde's rtde.h)
COMMAND_NAMES: dict[int, str] = {
    0: "NO_CMD", 1: "MOVEJ", 2: "MOVEJ_IK", 3: "MOVEL", 4: "MOVEL_FK", 6: "FORCE_MODE", 7: "FORCE_MODE_STOP",
    8: "ZERO_FT_SENSOR", 9: "SPEEDJ", 10: "SPEEDL", 11: "SERVOJ", 12: "SERVOC", 13: "SET_STD_DIGITAL_OUT",
    14: "SET_TOOL_DIGITAL_OUT", 15: "SPEED_STOP", 16: "SERVO_STOP", 17: "SET_PAYLOAD", 18: "TEACH_MODE",
    19: "END_TEACH_MODE", 20: "FORCE_MODE_SET_DAMPING", 21: "FORCE_MODE_SET_GAIN_SCALING", 22: "SET_SPEED_SLIDER",
    23: "SET_STD_ANALOG_OUT", 24: "SERVOL", 25: "TOOL_CONTACT", 26: "GET_STEPTIME",
    27: "GET_ACTUAL_JOINT_POSITIONS_HISTORY", 28: "GET_TARGET_WAYPOINT", 29: "SET_TCP",
    30: "GET_INVERSE_KINEMATICS_ARGS", 31: "PROTECTIVE_STOP", 33: "STOPL", 34: "STOPJ", 35: "SET_WATCHDOG",
    36: "IS_POSE_WITHIN_SAFETY_LIMITS", 37: "IS_JOINTS_WITHIN_SAFETY_LIMITS", 38: "GET_JOINT_TORQUES",
    39: "POSE_TRANS", 40: "GET_TCP_OFFSET", 41: "JOG_START", 42: "JOG_STOP", 43: "GET_FORWARD_KINEMATICS_DEFAULT",
    44: "GET_FORWARD_KINEMATICS_ARGS", 45: "MOVE_PATH", 46: "GET_INVERSE_KINEMATICS_DEFAULT", 47: "IS_STEADY",
    48: "SET_CONF_DIGITAL_OUT", 49: "SET_INPUT_INT_REGISTER", 50: "SET_INPUT_DOUBLE_REGISTER",
    51: "MOVE_UNTIL_CONTACT", 52: "FREEDRIVE_MODE", 53: "END_FREEDRIVE_MODE", 54: "GET_FREEDRIVE_STATUS",
    55: "SET_EXTERNAL_FORCE_TORQUE", 56: "FT_RTDE_INPUT_ENABLE", 57: "ENABLE_EXTERNAL_FT_SENSOR",
    58: "GET_ACTUAL_TOOL_FLANGE_POSE", 59: "SET_GRAVITY", 60: "GET_INVERSE_KINEMATICS_HAS_SOLUTION_DEFAULT",
    61: "GET_INVERSE_KINEMATICS_HAS_SOLUTION_ARGS", 62: "START_CONTACT_DETECTION", 63: "STOP_CONTACT_DETECTION",
    64: "READ_CONTACT_DETECTION", 255: "STOP_SCRIPT",
}
# processed every cycle, state straight back to "ready" (the script's main loop; 66-71 are 1.6's additions)
REALTIME_COMMANDS = frozenset({6, 9, 10, 11, 24, 25, 26, 27, 38, 58, 66, 67, 68, 69, 70, 71})

MODEL_NAMES = {"e-series": "e_series", "e_series": "e_series", "cb3": "cb3"}


class ControllerError(RuntimeError):
    """The emulated controller cannot do what was asked (an unknown command id, an unsupported script)."""


@dataclass(frozen=True)
class ControllerVersion:
    """What ``RTDE_GET_URCONTROL_VERSION`` and the dashboard's ``PolyscopeVersion`` report."""

    major: int
    minor: int
    bugfix: int
    build: int

    @property
    def text(self) -> str:
        return f"{self.major}.{self.minor}.{self.bugfix}.{self.build}"


CONTROLLER_VERSIONS = {"e_series": ControllerVersion(5, 15, 0, 112234), "cb3": ControllerVersion(3, 15, 8, 106339)}


@dataclass(frozen=True)
class ControlScript:
    """ur_rtde's control script, as recognised by ``script_interface`` (never interpreted)."""

    banner: str               # the date in "RTDE Control Script Loaded (...)": which ur_rtde wrote it
    register_offset: int      # 0, or 24 with ur_rtde's upper-range registers


@dataclass
class _ScriptState:
    script: ControlScript
    executing: bool = False
    blocking_move: bool = False                   # a movel/movej with async = 0: done when the motion ends
    damping: float = 0.005
    gain_scaling: float = 1.0


@dataclass
class ControllerState:
    """One RTDE period's published values (what the output recipes read)."""

    values: dict[str, object] = field(default_factory=dict)
    period: int = 0


def resolve_model(name: str) -> str:
    try:
        return MODEL_NAMES[name]
    except KeyError:
        raise ValueError(f"unknown UR model {name!r}; use e-series or cb3") from None


class EmulatedController:
    """The simulated UR10 behind RTDE registers, stepped once per RTDE period at real time."""

    def __init__(self, scene: Scene, model: str = "e_series", *, script_start_delay_s: float = 0.3,
                 speed_fraction: float = 1.0, tcp_offset_m: float = 0.06, seed: int = 0) -> None:
        self.model = resolve_model(model)
        self.version = CONTROLLER_VERSIONS[self.model]
        self.arm = SimArm(scene, SimArmConfig(model=self.model, real_time_factor=1.0, seed=seed, watchdog_clock="wall",
                                              script_start_delay_s=script_start_delay_s,
                                              speed_fraction=speed_fraction, tcp_offset_m=tcp_offset_m))
        self.arm.connect()
        self.arm.stop_program()                  # a controller starts with no program running
        self.period_s = ARM_MODELS[self.model].rtde_period_s
        self.errors: list[str] = []              # every command/script error, for tests and the CLI log
        self._lock = threading.RLock()
        self._published = threading.Condition()
        self._state = ControllerState()
        self.in_int = [0] * REGISTER_COUNT
        self.in_double = [0.0] * REGISTER_COUNT
        self.out_int = [0] * REGISTER_COUNT
        self.out_double = [0.0] * REGISTER_COUNT
        self._script: _ScriptState | None = None
        self._pending_script: ControlScript | None = None
        self._was_running = False
        self._watched_register: str | None = None
        self._last_pose = self.arm.tcp_pose()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> None:
        self._publish()
        self._thread = threading.Thread(target=self._run, name="ur-emulator-controller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        with self._published:
            self._published.notify_all()

    @property
    def running(self) -> bool:
        return not self._stop.is_set()

    def wait_period(self, after: int, timeout_s: float) -> ControllerState | None:
        """The first published state newer than period ``after`` (None on timeout or when stopped)."""
        with self._published:
            self._published.wait_for(lambda: self._state.period > after or self._stop.is_set(), timeout_s)
            return self._state if self._state.period > after else None

    @property
    def state(self) -> ControllerState:
        with self._published:
            return self._state

    # -- what the protocol servers call -----------------------------------------------------------------

    def write_inputs(self, values: dict[str, object], arrived_at: float | None = None) -> None:
        """An RTDE input package: set the registers; one that updates the watched register kicks the watchdog,
        as of ``arrived_at`` (``time.monotonic()`` when the package reached the socket; None: now)."""
        with self._lock:
            for name, value in values.items():
                kind, _, index = name.rpartition("_")
                if kind == "input_int_register":
                    self.in_int[int(index)] = int(value)  # type: ignore[call-overload]
                elif kind == "input_double_register":
                    self.in_double[int(index)] = float(value)  # type: ignore[arg-type]
            if self._watched_register is not None and self._watched_register in values:
                try:
                    self.arm.kick_watchdog(arrived_at)
                except ArmError as exc:
                    log.debug("watchdog kick while the script is not running: %s", exc)

    def run_script(self, script: ControlScript) -> bool:
        """A recognised control script arrived: it runs after the start delay. False when a stop prevents it."""
        with self._lock:
            if self.arm.script_running:
                self._halt_script("a new program was sent while the control script ran")
            started = self.arm.upload_script()
            if not started:
                self._error("the control script cannot start: a protective, safeguard or emergency stop is "
                            "active; clear it first (dashboard: unlock protective stop)")
                return False
            self._pending_script = script
            log.info("ur_rtde control script (%s, register offset %d) received; it runs in %.3f s",
                     script.banner, script.register_offset, self.arm.config.script_start_delay_s)
            return True

    def stop_program(self, reason: str) -> None:
        """Dashboard ``stop`` (or the pendant's stop button): the program ends."""
        with self._lock:
            self._halt_script(reason)
            self.arm.stop_program()

    def inject(self, fault: str, target: str | None = None) -> None:
        """Make a fault happen now (``sim_arm.SimFault``: protective_stop, emergency_stop, pause, ...)."""
        with self._lock:
            self.arm.inject(SimFault.parse(fault), target)

    def unlock_protective_stop(self) -> None:
        with self._lock:
            self.arm.clear_protective_stop()

    def pendant_jog_up(self, rise_m: float, timeout_s: float = 10.0) -> None:
        """What an operator does on the pendant's Move tab after a stop: lift the tool straight up by ``rise_m``."""
        with self._lock:
            if not self.arm.upload_script():
                raise ControllerError("cannot jog: a protective, safeguard or emergency stop is still active")
        wait_until(lambda: self.arm.script_running, timeout_s, "the pendant's jog program to start")
        with self._lock:
            pose = self.arm.tcp_pose()
            pose[2] += rise_m
            self.arm.move_linear(pose, 0.1, 0.5)
        wait_until(lambda: not self.arm.motion_active, timeout_s, "the jog to end")
        self.stop_program("jog done")

    @property
    def force_mode_active(self) -> bool:
        """Truth: is the controller in force mode now."""
        return self.arm.controller_in_force_mode

    # -- the loop ---------------------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            token = self.arm.period_start()
            with self._lock:
                self._script_cycle()
            self.arm.period_wait(token)
            self._publish()

    def _publish(self) -> None:
        with self._lock:
            values = self._sample()
        with self._published:
            self._state = ControllerState(values, self._state.period + 1)
            self._published.notify_all()

    def _sample(self) -> dict[str, object]:
        arm = self.arm
        safety = arm.safety()
        pose = arm.tcp_pose()
        speed = (pose - self._last_pose) / self.period_s
        self._last_pose = pose
        q = arm.joint_positions()
        running = arm.script_running
        paused = arm.program_paused
        runtime = RUNTIME_PAUSED if paused else RUNTIME_PLAYING if running else RUNTIME_STOPPED
        safety_bits = SAFETY_BIT_NORMAL
        safety_mode = SAFETY_MODE_NORMAL
        if safety.protective_stopped:
            safety_bits, safety_mode = SAFETY_BIT_PROTECTIVE, SAFETY_MODE_PROTECTIVE
        if safety.safeguard_stopped:
            safety_bits, safety_mode = SAFETY_BIT_SAFEGUARD, SAFETY_MODE_SAFEGUARD
        if safety.emergency_stopped:
            safety_bits, safety_mode = SAFETY_BIT_ROBOT_ESTOP | SAFETY_BIT_EMERGENCY, SAFETY_MODE_ROBOT_ESTOP
        status = (ROBOT_STATUS_POWER_ON if safety.robot_mode >= 4 else 0) | (
            ROBOT_STATUS_PROGRAM_RUNNING if running else 0)
        wrench = arm.tcp_wrench()
        fraction = arm.speed_fraction()
        values: dict[str, object] = {
            "timestamp": arm.now(),
            "actual_q": q, "target_q": q, "actual_TCP_pose": pose, "target_TCP_pose": pose,
            "actual_TCP_speed": speed, "target_TCP_speed": speed, "actual_TCP_force": wrench,
            "ft_raw_wrench": wrench, "tcp_force_scalar": float(np.linalg.norm(wrench[:3])),
            "robot_mode": safety.robot_mode, "safety_mode": safety_mode, "safety_status": safety_mode,
            "robot_status_bits": status, "safety_status_bits": safety_bits, "runtime_state": runtime,
            "target_speed_fraction": fraction, "speed_scaling": fraction if running else 0.0,
            "actual_main_voltage": 48.0, "actual_robot_voltage": 48.0, "joint_mode": [253] * 6,
        }
        for i in range(REGISTER_COUNT):
            values[f"output_int_register_{i}"] = self.out_int[i]
            values[f"output_double_register_{i}"] = self.out_double[i]
            values[f"input_int_register_{i}"] = self.in_int[i]
            values[f"input_double_register_{i}"] = self.in_double[i]
        return values

    # -- the control script's main loop (one sync() per RTDE period) ------------------------------------

    def _script_cycle(self) -> None:
        running = self.arm.script_running
        if running and not self._was_running and self._pending_script is not None:
            self._script = _ScriptState(self._pending_script)
            self._pending_script = None
            if self.version.major >= 5:
                self._script.gain_scaling = 0.5     # the script's start: force_mode_set_gain_scaling(0.5) (5.0+)
            self._script.damping = 0.025            # ... and force_mode_set_damping(0.025) (3.5+)
            self._write_state(SCRIPT_READY)
            log.info("control script running")
        elif not running and self._was_running:
            self._script = None
            self._watched_register = None
        self._was_running = running
        script = self._script
        if not running or script is None or self.arm.program_paused:
            return
        offset = script.script.register_offset
        if script.blocking_move:
            if not self.arm.motion_active:
                script.blocking_move = False
                self._write_state(SCRIPT_DONE)
            return
        command = self.in_int[offset]
        if command in REALTIME_COMMANDS:
            self._process(command)
            if self._script is not None:
                self._write_state(SCRIPT_READY)
        elif command == 0:
            script.executing = False
            self._write_state(SCRIPT_READY)
        elif not script.executing:
            script.executing = True
            self._process(command)

    def _write_state(self, value: int) -> None:
        if self._script is not None:
            self.out_int[self._script.script.register_offset] = value

    def _process(self, command: int) -> None:
        handler = self._handlers().get(command)
        name = COMMAND_NAMES.get(command)
        if handler is None:
            if name is None:
                self._error(f"unknown command id {command} in input_int_register_"
                            f"{self._offset()}: not a command of ur_rtde 1.6.5's control script; the script stops")
            else:
                self._error(f"command id {command} ({name}) is a ur_rtde command that this emulator does not "
                            "serve; the script stops (the adapter never sends it)")
            self._halt_script(f"command id {command}")
            return
        try:
            handler()
        except ArmError as exc:
            self._error(f"{name} (command id {command}) failed: {exc}; the script stops, as a URScript runtime "
                        "error stops it")
            self._halt_script(f"runtime error in {name}")
            return
        if command != 255 and self._script is not None and not self._script.blocking_move:
            self._write_state(SCRIPT_DONE)

    def _handlers(self) -> dict[int, Callable[[], None]]:
        return {1: self._movej, 2: self._movej_ik, 3: self._movel, 6: self._force_mode, 7: self._force_mode_stop,
                8: self.arm.zero_ft, 15: self._stop_motion, 20: self._set_damping, 21: self._set_gain,
                26: self._get_step_time, 30: self._inverse_kinematics_args, 31: self._protective_stop,
                33: self._stop_motion, 34: self._stop_motion, 35: self._set_watchdog, 40: self._get_tcp_offset,
                46: self._inverse_kinematics_default, 255: self._stop_script}

    # -- command handlers: registers as the control script reads and writes them ------------------------

    def _offset(self) -> int:
        return self._script.script.register_offset if self._script is not None else 0

    def _doubles(self, first: int, count: int) -> np.ndarray:
        start = self._offset() + first
        return np.array(self.in_double[start:start + count], dtype=float)

    def _int(self, index: int) -> int:
        return self.in_int[self._offset() + index]

    def _put_doubles(self, values: np.ndarray) -> None:
        for i, value in enumerate(values):
            self.out_double[self._offset() + i] = float(value)

    def _move(self, joints: bool, target: np.ndarray) -> None:
        speed, accel = self._doubles(6, 2)
        if joints:
            self.arm.move_joints(target, speed, accel)
        else:
            self.arm.move_linear(target, speed, accel)
        if self._int(1) != 1 and self._script is not None:       # async = 0: done when the motion ends
            self._script.blocking_move = True

    def _movej(self) -> None:
        self._move(True, self._doubles(0, 6))

    def _movej_ik(self) -> None:
        self._move(True, self.arm.joint_solution(self._doubles(0, 6), self.arm.joint_positions()))

    def _movel(self) -> None:
        self._move(False, self._doubles(0, 6))

    def _force_mode(self) -> None:
        assert self._script is not None
        offset = self._offset()
        command = ForceModeCommand(
            task_frame=self._doubles(0, 6),
            selection_vector=tuple(self.in_int[offset + 2:offset + 8]),  # type: ignore[arg-type]
            wrench=tuple(self._doubles(6, 6)),  # type: ignore[arg-type]
            type=self._int(1),
            limits=tuple(self._doubles(12, 6)),  # type: ignore[arg-type]
            damping=self._script.damping,
            gain_scaling=self._script.gain_scaling if self.version.major >= 5 else 1.0,
        )
        self.arm.force_mode(command)

    def _force_mode_stop(self) -> None:
        self.arm.force_mode_stop()
        self.arm.stop_motion(10.0)                 # the script's end_force_mode() then stopl(10)

    def _stop_motion(self) -> None:
        self.arm.stop_motion(float(self._doubles(0, 1)[0]))

    def _set_damping(self) -> None:
        assert self._script is not None
        self._script.damping = float(self._doubles(0, 1)[0])

    def _set_gain(self) -> None:
        assert self._script is not None
        if self.version.major >= 5:               # the script line needs PolyScope 5.0; a CB3 drops it
            self._script.gain_scaling = float(self._doubles(0, 1)[0])

    def _get_step_time(self) -> None:
        self.out_double[self._offset()] = self.period_s

    def _inverse_kinematics_args(self) -> None:
        self._put_doubles(self.arm.joint_solution(self._doubles(0, 6), self._doubles(6, 6)))

    def _inverse_kinematics_default(self) -> None:
        self._put_doubles(self.arm.joint_solution(self._doubles(0, 6), self.arm.joint_positions()))

    def _protective_stop(self) -> None:
        self.arm.inject(SimFault.PROTECTIVE_STOP)

    def _set_watchdog(self) -> None:
        frequency = float(self._doubles(0, 1)[0])
        if not frequency > 0:
            raise ArmError(f"setWatchdog: min_frequency {frequency:g} Hz must be > 0")
        self.arm.arm_watchdog(frequency)
        self._watched_register = f"input_int_register_{self._offset()}"
        log.info("RTDE watchdog on %s: stop after %.3f s without an update", self._watched_register, 1 / frequency)

    def _get_tcp_offset(self) -> None:
        self._put_doubles(self.arm.tcp_offset())

    def _stop_script(self) -> None:
        log.info("stopScript: the control script ends")
        self._halt_script("stopScript")
        self.arm.stop_program()

    def _halt_script(self, reason: str) -> None:
        if self._script is not None:
            log.info("control script stopped: %s", reason)
        self._script = None
        self._pending_script = None
        self._watched_register = None
        self._was_running = False
        if self.arm.script_running:
            self.arm.stop_program()

    def _error(self, message: str) -> None:
        log.error("%s", message)
        self.errors.append(message)


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.001) -> float:
    """Poll ``predicate`` until it holds; the seconds it took. ``TimeoutError`` names ``what``."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout_s:
            raise TimeoutError(f"waited {timeout_s:g} s for {what}")
        time.sleep(poll_s)
    return time.monotonic() - start
