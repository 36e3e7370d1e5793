"""The ur_rtde adapter.

The only stand-ins are at the RTDE boundary: two classes in place of ur_rtde's
``RTDEControlInterface`` / ``RTDEReceiveInterface``, which forward to the simulated UR10 the way
the real controller would answer (True/False returns, RuntimeError over a lost link). Every
method name the adapter calls on them is checked against the real ur_rtde classes, so the
double cannot drift from the library. Connection failure runs against the real classes.
"""

from __future__ import annotations

import ast
import inspect
import math
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import rtde_control
import rtde_receive

from tactile_material_ros.robot import ur_rtde_arm
from tactile_material_ros.robot.arm_port import ArmCommandRejected, ArmConnectionError, ArmSetupError, ForceModeCommand
from tactile_material_ros.robot.cell import CB3, TcpCheck
from tactile_material_ros.robot.fault_injection import FaultInjection, FaultInjector
from tactile_material_ros.robot.palpation import FaultCode, PalpationConfig, PalpationListener, PalpationRoutine
from tactile_material_ros.robot.sim_arm import SimArm, SimArmConfig
from tactile_material_ros.robot.ur_rtde_arm import UrRtdeArm
from tactile_material_ros.sim.scene import Scene, load_scene

# the double runs in the test's own process on a shared, loaded machine: a scheduling stall of a few
# hundred ms on the wall clock must not trip the controller's watchdog (its controller-clock check stays)
LOADED_MACHINE = {"wall_watchdog_floor_s": 1.0}

ROBOT_IP = "192.168.56.101"


def _answer(call: Callable[[], Any]) -> bool:
    """ur_rtde's way: True when done, False when the controller refuses, RuntimeError without a link."""
    try:
        call()
    except ArmCommandRejected:
        return False
    except ArmConnectionError as exc:
        raise RuntimeError(str(exc)) from None
    return True


class FakeControl:
    """In place of rtde_control.RTDEControlInterface 1.6.5, answering from the simulated UR10.

    As the library does: the constructor returns with the control script running; ``reuploadScript``
    returns at once and the script runs ``script_start_delay_s`` later (the simulated controller's),
    refusing commands (False) until then; on a CB3 the step time is 0.008 s and there is no
    force-mode gain scaling.
    """

    def __init__(self, sim: SimArm) -> None:
        self.sim = sim
        self.damping = 0.005          # the controller's defaults until set
        self.gain_scaling = 1.0

    def getStepTime(self) -> float:
        return self.sim.period_s

    def isConnected(self) -> bool:
        return self.sim.safety().connected

    def isProgramRunning(self) -> bool:
        if not self.isConnected():
            raise RuntimeError("not connected")
        return self.sim.script_running

    def reuploadScript(self) -> bool:
        return self.sim.upload_script()            # returns before the script runs

    def setWatchdog(self, min_frequency: float) -> bool:
        return _answer(lambda: self.sim.arm_watchdog(min_frequency))

    def kickWatchdog(self) -> bool:
        return _answer(self.sim.kick_watchdog)

    def initPeriod(self) -> object:
        return self.sim.period_start()

    def waitPeriod(self, t_cycle_start: object) -> None:
        self.sim.period_wait(t_cycle_start)

    def moveL(self, pose: list[float], speed: float, acceleration: float, asynchronous: bool) -> bool:
        assert asynchronous is True, "the routine must be able to watch a move"
        return _answer(lambda: self.sim.move_linear(np.array(pose), speed, acceleration))

    def moveJ(self, q: list[float], speed: float, acceleration: float, asynchronous: bool) -> bool:
        assert asynchronous is True, "the routine must be able to watch a move"
        return _answer(lambda: self.sim.move_joints(np.array(q), speed, acceleration))

    def stopL(self, a: float) -> None:
        _answer(lambda: self.sim.stop_motion(a))

    def forceModeSetDamping(self, damping: float) -> bool:
        if not self.sim.script_running:
            return False
        self.damping = damping
        return True

    def forceModeSetGainScaling(self, scaling: float) -> bool:
        if not self.sim.model.gain_scaling:
            raise RuntimeError("force_mode_set_gain_scaling is not available on a CB3 controller")
        if not self.sim.script_running:
            return False
        self.gain_scaling = scaling
        return True

    def forceMode(self, task_frame: list[float], selection_vector: list[int], wrench: list[float], type: int,
                  limits: list[float]) -> bool:
        command = ForceModeCommand(np.array(task_frame), tuple(selection_vector), tuple(wrench), type,  # type: ignore[arg-type]
                                   tuple(limits), self.damping, self.gain_scaling)  # type: ignore[arg-type]
        return _answer(lambda: self.sim.force_mode(command))

    def forceModeStop(self) -> bool:
        return _answer(self.sim.force_mode_stop)

    def zeroFtSensor(self) -> bool:
        return _answer(self.sim.zero_ft)

    def getTCPOffset(self) -> list[float]:
        return list(FakeReceive._read(self.sim.tcp_offset))

    def getInverseKinematics(self, x: list[float], qnear: list[float]) -> list[float]:
        return list(FakeReceive._read(lambda: self.sim.joint_solution(np.array(x), np.array(qnear))))

    def stopScript(self) -> None:
        pass

    def disconnect(self) -> None:
        self.sim.disconnect()


class FakeReceive:
    """In place of rtde_receive.RTDEReceiveInterface 1.6.5."""

    def __init__(self, sim: SimArm) -> None:
        self.sim = sim

    def isConnected(self) -> bool:
        return self.sim.safety().connected

    def isProtectiveStopped(self) -> bool:
        return self.sim.safety().protective_stopped

    def isEmergencyStopped(self) -> bool:
        return self.sim.safety().emergency_stopped

    def getRobotMode(self) -> int:
        return self.sim.safety().robot_mode

    def getSafetyStatusBits(self) -> int:
        safety = self.sim.safety()
        return ((1 << 0) * (not (safety.protective_stopped or safety.safeguard_stopped or safety.emergency_stopped))
                | (1 << 2) * safety.protective_stopped | (1 << 4) * safety.safeguard_stopped
                | (1 << 7) * safety.emergency_stopped)

    def getRobotStatus(self) -> int:
        return (1 << 0) * (self.sim.safety().robot_mode == 7) | (1 << 1) * self.sim.script_running

    def getRuntimeState(self) -> int:
        if self.sim.program_paused:
            return 4                                    # paused
        return 2 if self.sim.script_running else 1      # playing / stopped

    def getTargetSpeedFraction(self) -> float:
        return self._read(self.sim.speed_fraction)  # type: ignore[return-value]

    def getActualTCPPose(self) -> list[float]:
        return list(self._read(self.sim.tcp_pose))

    def getActualTCPForce(self) -> list[float]:
        return list(self._read(self.sim.tcp_wrench))

    def getActualQ(self) -> list[float]:
        return list(self._read(self.sim.joint_positions))

    def disconnect(self) -> None:
        pass

    @staticmethod
    def _read(read: Callable[[], Any]) -> Any:
        try:
            return read()
        except ArmConnectionError as exc:
            raise RuntimeError(str(exc)) from None


class Recording:
    """Forwards to ``target`` and records every method name used on it."""

    def __init__(self, target: object, calls: list[str]) -> None:
        self._target, self._calls = target, calls

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            self._calls.append(name)
            return attribute(*args, **kwargs)
        return call


@pytest.fixture(scope="module")
def scene() -> Scene:
    return load_scene()


def _adapter(scene: Scene, **sim_config: Any) -> tuple[UrRtdeArm, SimArm, list[str], list[str]]:
    sim = SimArm(scene, SimArmConfig(**{**LOADED_MACHINE, **sim_config}))
    sim.connect()
    control_calls: list[str] = []
    receive_calls: list[str] = []
    arm = UrRtdeArm(ROBOT_IP, clock=sim.now, tcp_check=TcpCheck(),
                    control_factory=lambda ip: Recording(FakeControl(sim), control_calls),
                    receive_factory=lambda ip: Recording(FakeReceive(sim), receive_calls))
    arm.connect()
    return arm, sim, control_calls, receive_calls


def _names_called_in_adapter(attribute: str) -> set[str]:
    """Method names the adapter's source calls on ``self.<attribute>``."""
    tree = ast.parse(inspect.getsource(ur_rtde_arm))
    names = set()
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == attribute
                and isinstance(node.func.value.value, ast.Name) and node.func.value.value.id == "self"):
            names.add(node.func.attr)
    return names


def test_a_full_cycle_through_the_adapter_and_every_rtde_call_exists_in_ur_rtde(scene: Scene) -> None:
    arm, sim, control_calls, receive_calls = _adapter(scene)
    result = PalpationRoutine(arm).palpate(scene.get("rubber_ball").top_m)
    arm.disconnect()
    assert result.outcome == "done", result.reason
    assert [round(p.tool_angle_deg) for p in result.presses] == [0, 90]
    assert all(abs(p.force_n - 24.0) <= 1.0 for p in result.presses)

    # what the adapter calls exists on the real classes (from its source, and as recorded here)
    control_names = _names_called_in_adapter("_control")
    receive_names = _names_called_in_adapter("_receive")
    assert {"forceMode", "forceModeStop", "zeroFtSensor", "moveL", "initPeriod", "waitPeriod"} <= control_names
    assert {"getActualTCPPose", "getActualTCPForce", "isProtectiveStopped"} <= receive_names
    missing = sorted([f"RTDEControlInterface.{n}" for n in control_names | set(control_calls)
                      if not hasattr(rtde_control.RTDEControlInterface, n)]
                     + [f"RTDEReceiveInterface.{n}" for n in receive_names | set(receive_calls)
                        if not hasattr(rtde_receive.RTDEReceiveInterface, n)])
    assert not missing, f"not in ur_rtde {missing}"
    assert set(control_calls) <= control_names and set(receive_calls) <= receive_names

    # damping and gain are set before entering force mode, once per press
    assert control_calls.count("forceModeSetDamping") == control_calls.count("forceModeSetGainScaling") == 2
    first_force_mode = control_calls.index("forceMode")
    assert control_calls.index("forceModeSetDamping") < first_force_mode
    assert control_calls.index("forceModeSetGainScaling") < first_force_mode
    # the loop is paced by initPeriod/waitPeriod at the controller's period, with the watchdog fed
    assert control_calls.count("waitPeriod") == pytest.approx(result.duration_s / sim.period_s, rel=0.05)
    assert control_calls.count("kickWatchdog") >= control_calls.count("waitPeriod") - 2
    assert control_calls.count("zeroFtSensor") == 3                   # at the start and before each press
    assert control_calls.index("setWatchdog") < control_calls.index("kickWatchdog")


@pytest.mark.parametrize(("injection", "code", "stopped"), [
    ("protective_stop@pressing", FaultCode.PROTECTIVE_STOP, True),
    ("emergency_stop@holding", FaultCode.EMERGENCY_STOP, True),
    ("lost_link@pressing", FaultCode.LOST_LINK, None),
])
def test_controller_faults_reach_the_routine_through_the_adapter(
        scene: Scene, injection: str, code: FaultCode, stopped: bool | None) -> None:
    arm, sim, _, _ = _adapter(scene)
    injector = FaultInjector(sim, FaultInjection.parse(injection))
    result = PalpationRoutine(arm, listeners=[injector]).palpate(scene.get("wood_ball").top_m)
    assert result.fault_code is code, result.reason
    assert result.force_mode_stopped is stopped
    assert not sim.controller_in_force_mode


def test_after_a_cleared_protective_stop_the_adapter_reuploads_the_control_script(scene: Scene) -> None:
    arm, sim, control_calls, _ = _adapter(scene)
    routine = PalpationRoutine(arm, listeners=[FaultInjector(sim, FaultInjection.parse("protective_stop@holding"))])
    assert routine.palpate(scene.get("wood_ball").top_m).fault_code is FaultCode.PROTECTIVE_STOP
    assert "reuploadScript" not in control_calls
    sim.clear_protective_stop()
    # the stop left the gel pressed into the ball: that cycle zeroes under load and ends in preload,
    # after re-uploading the script; it lifts clear, and the next one runs normally
    assert routine.palpate(scene.get("wood_ball").top_m).fault_code is FaultCode.PRELOAD
    assert "reuploadScript" in control_calls
    assert routine.palpate(scene.get("wood_ball").top_m).outcome == "done"


def _idle(sim: SimArm, seconds: float) -> None:
    """Time passes on the controller with nobody kicking the watchdog (between two node cycles)."""
    token = sim.period_start()
    end = sim.now() + seconds
    while sim.now() < end:
        sim.period_wait(token)
        token = sim.period_start()


def test_two_cycles_in_a_row_wait_for_the_reuploaded_script_before_any_call(scene: Scene) -> None:
    arm, sim, control_calls, receive_calls = _adapter(scene)
    routine = PalpationRoutine(arm)
    assert routine.palpate(scene.get("rubber_ball").top_m).outcome == "done"
    _idle(sim, 0.5)                                   # the watchdog stops the script between cycles
    assert not sim.script_running
    # the 1.6.5-like double: right after reuploadScript the script is not running yet, and calls are refused
    probe = FakeControl(sim)
    assert probe.reuploadScript() is True and probe.setWatchdog(10.0) is False
    control_calls.clear()
    result = routine.palpate(scene.get("rubber_ball").top_m)
    assert result.outcome == "done", result.reason
    upload, armed = control_calls.index("reuploadScript"), control_calls.index("setWatchdog")
    assert upload < armed and "waitPeriod" in control_calls[upload:armed]     # waited, paced by the period
    assert "getRuntimeState" in receive_calls and "getRobotStatus" in receive_calls
    assert sim.record[-1].what != "script_stopped"


def test_a_script_that_never_starts_is_a_rejection_after_the_timeout(scene: Scene) -> None:
    arm, sim, _, _ = _adapter(scene, script_start_delay_s=5.0)
    _idle(sim, 0.5)
    arm.prepare()                                     # the script runs at connect: no upload needed
    _idle(sim, 0.5)
    result = PalpationRoutine(arm).palpate(scene.get("rubber_ball").top_m)
    assert result.fault_code is FaultCode.REJECTED and "did not start within 2 s" in result.reason
    assert np.linalg.norm(result.end_pose[:3] - result.start_pose[:3]) < 1e-9 if result.start_pose is not None else True


@pytest.mark.parametrize(("injection", "code"), [
    ("pause@holding", FaultCode.PROGRAM_PAUSED),
    ("safeguard_stop@pressing", FaultCode.SAFEGUARD_STOP),
])
def test_a_paused_program_reports_force_mode_as_unknown(scene: Scene, injection: str, code: FaultCode) -> None:
    arm, sim, _, _ = _adapter(scene)
    result = PalpationRoutine(arm, listeners=[FaultInjector(sim, FaultInjection.parse(injection))]).palpate(
        scene.get("rubber_ball").top_m)
    assert result.fault_code is code, result.reason
    assert result.force_mode_stopped is None            # read from the controller: it cannot say
    assert arm.force_mode_active() is None
    sim.stop_program()                                  # the operator presses Stop: the script ends
    assert arm.force_mode_active() is False


def test_a_7_mm_preload_ends_in_fault_preload_through_the_adapter(scene: Scene) -> None:
    arm, sim, _, _ = _adapter(scene)
    truth: list[float] = []

    class Truth(PalpationListener):
        wants_samples = True

        def on_sample(self, sample: object) -> None:
            truth.append(sim.contact_force_n())

    injector = FaultInjector(sim, FaultInjection.parse("preload@approaching"), "rubber_ball")
    result = PalpationRoutine(arm, listeners=[injector, Truth()]).palpate(scene.get("rubber_ball").top_m)
    assert result.fault_code is FaultCode.PRELOAD, result.reason
    assert "higher than the scene file says" in result.reason
    assert result.force_mode_stopped is True and not sim.controller_in_force_mode
    assert max(truth) < PalpationConfig().max_force_n and sim.contact_force_n() == 0.0


def test_a_cb3_is_detected_and_pressed_only_with_settings_its_force_noise_permits(scene: Scene) -> None:
    arm, sim, control_calls, _ = _adapter(scene, model="cb3")
    assert arm.model.name == "cb3" and arm.period_s == pytest.approx(0.008)
    refused = PalpationRoutine(arm).palpate(scene.get("rubber_ball").top_m)     # the e-Series defaults
    assert refused.fault_code is FaultCode.SETTINGS
    for needed in ("force_tolerance_n", "force_filter_s", "contact_force_n", "free_force_n"):
        assert needed in refused.reason
    assert not any(e.what.startswith("move") for e in sim.record)              # nothing moved
    config = PalpationConfig(**CB3.minimum_settings())
    result = PalpationRoutine(arm, config).palpate(scene.get("rubber_ball").top_m)
    assert result.outcome == "done", result.reason
    assert all(abs(p.force_n - 24.0) <= config.force_tolerance_n for p in result.presses)
    assert "forceModeSetGainScaling" not in control_calls                      # a CB3 has none
    assert control_calls.count("waitPeriod") == pytest.approx(result.duration_s / 0.008, rel=0.1)


def test_a_wrong_model_or_tcp_offset_is_refused_at_connect(scene: Scene) -> None:
    sim = SimArm(scene, SimArmConfig(model="cb3", **LOADED_MACHINE))
    sim.connect()
    arm = UrRtdeArm(ROBOT_IP, arm_model="e_series", clock=sim.now, control_factory=lambda ip: FakeControl(sim),
                    receive_factory=lambda ip: FakeReceive(sim))
    with pytest.raises(ArmSetupError, match="arm_model = 'e_series' but the controller is a cb3"):
        arm.connect()
    sim = SimArm(scene, SimArmConfig(**LOADED_MACHINE))
    sim.connect()
    arm = UrRtdeArm(ROBOT_IP, tcp_check=TcpCheck(offset=(0.0, 0.0, 0.05, 0.0, 0.0, 0.0)), clock=sim.now,
                    control_factory=lambda ip: FakeControl(sim), receive_factory=lambda ip: FakeReceive(sim))
    with pytest.raises(ArmSetupError, match=r"TCP offset is \[0.0, 0.0, 0.06.*tcp_offset = \[0.0, 0.0, 0.05.*10.0 mm"):
        arm.connect()


def test_four_presses_twice_in_a_row_leave_wrist_3_where_it_started(scene: Scene) -> None:
    arm, sim, _, _ = _adapter(scene)
    start = float(sim.joint_positions()[5])
    routine = PalpationRoutine(arm, PalpationConfig(presses=4))
    for _ in range(2):
        result = routine.palpate(scene.get("wood_ball").top_m)
        assert result.outcome == "done", result.reason
        assert [round(p.tool_angle_deg) % 360 for p in result.presses] == [0, 90, 180, 270]
        assert abs(math.degrees(float(sim.joint_positions()[5]) - start)) <= 180.0


def test_refused_commands_become_arm_errors(scene: Scene) -> None:
    arm, sim, _, _ = _adapter(scene)
    arm.prepare()
    with pytest.raises(ArmCommandRejected, match="moveL refused"):
        arm.move_linear(np.array([3.0, 0.0, 0.2, 3.14159, 0.0, 0.0]), 0.25, 1.2)   # out of reach
    sim.inject("lost_link")
    with pytest.raises(ArmConnectionError, match="lost the RTDE connection"):
        arm.zero_ft()
    assert arm.safety().connected is False


def test_connection_failure_names_the_ip_and_what_to_check() -> None:
    arm = UrRtdeArm("127.0.0.1")            # the real ur_rtde classes; nothing listens on 127.0.0.1:30004
    started = time.monotonic()
    with pytest.raises(ArmConnectionError) as error:
        arm.connect()
    assert time.monotonic() - started < 5.0
    message = str(error.value)
    for needed in ("127.0.0.1", "Remote Control", "Universal_Robots_ROS2_Driver", "ping 127.0.0.1"):
        assert needed in message, message
    assert arm.safety().connected is False


def test_ur_rtde_is_imported_only_when_the_adapter_connects() -> None:
    code = ("import sys; import tactile_material_ros.robot.ur_rtde_arm, tactile_material_ros.robot.palpation, "
            "tactile_material_ros.cli.palpate_commands; "
            "assert not {'rtde_control', 'rtde_receive', 'rclpy'} & set(sys.modules), sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)



def test_two_node_cycles_in_a_row_on_the_double_both_finish(scene: Scene) -> None:
    import rclpy
    from std_srvs.srv import Trigger

    from tactile_material_ros.nodes.ur_palpation_node import UrPalpationNode

    sim = SimArm(scene, SimArmConfig(**LOADED_MACHINE))
    sim.connect()

    class NodeOnTheDouble(UrPalpationNode):
        def _build_arm(self, kind: str, robot_ip: str, arm_model: str, tcp_check: TcpCheck) -> UrRtdeArm:
            assert kind == "ur_rtde" and robot_ip == ROBOT_IP
            return UrRtdeArm(robot_ip, arm_model=arm_model, tcp_check=tcp_check, clock=sim.now,
                             control_factory=lambda ip: FakeControl(sim), receive_factory=lambda ip: FakeReceive(sim))

    context = rclpy.context.Context()
    rclpy.init(context=context, args=["--ros-args", "-p", "arm:=ur_rtde", "-p", f"robot_ip:={ROBOT_IP}",
                                      "-p", "target:=wood_ball"])
    try:
        node = _in_context(NodeOnTheDouble, context)
        try:
            answers = []
            for _ in range(2):
                answers.append(node._on_palpate(Trigger.Request(), Trigger.Response()))
                _idle(sim, 0.5)                 # between cycles the watchdog stops the script
            assert all(a.success for a in answers), [a.message for a in answers]
            assert any(e.what == "control script re-uploaded" for e in sim.record)
        finally:
            node.close()
            node.destroy_node()
    finally:
        context.try_shutdown()


def _in_context(cls: type, context: Any) -> Any:
    """Build a node class whose ``Node.__init__`` runs in ``context`` (the node passes none of its own)."""
    import rclpy.node

    original = rclpy.node.Node.__init__

    def init(self: Any, name: str, **kwargs: Any) -> None:
        original(self, name, context=context, **kwargs)

    rclpy.node.Node.__init__ = init  # type: ignore[method-assign]
    try:
        return cls()
    finally:
        rclpy.node.Node.__init__ = original  # type: ignore[method-assign]
