"""ur_palpation_node as a separate process (simulated UR10 at real time) driven over ROS from this one."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest
import rclpy
from geometry_msgs.msg import PoseStamped, WrenchStamped
from rcl_interfaces.msg import Log, Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile
from sensor_msgs.msg import JointState
from std_msgs.msg import String
from std_srvs.srv import Trigger

from tactile_material_ros.nodes.node_support import EXIT_STARTUP_ERROR, RESULT_QOS, SENSOR_QOS, STATE_QOS
from tactile_material_ros.robot.ur_kinematics import JOINT_NAMES
from tactile_material_ros.sim.contact_model import ContactModel
from tactile_material_ros.sim.materials import default_library
from tactile_material_ros.sim.scene import load_scene

NODE = [sys.executable, "-m", "tactile_material_ros.nodes.ur_palpation_node", "--ros-args"]


def _stamp_s(msg: object) -> float:
    stamp = msg.header.stamp  # type: ignore[attr-defined]
    return stamp.sec + stamp.nanosec * 1e-9


class Probe:
    """This process's side: subscriptions, service clients, and spinning until a condition holds."""

    def __init__(self, domain_id: int) -> None:
        self.context = rclpy.context.Context()
        rclpy.init(context=self.context, domain_id=domain_id)
        self.node = Node("palpation_probe", context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.states: list[str] = []
        self.presses: list[WrenchStamped] = []
        self.wrenches: list[WrenchStamped] = []
        self.poses: list[PoseStamped] = []
        self.joints: list[JointState] = []
        self.node.create_subscription(String, "palpation/state", lambda m: self.states.append(m.data), STATE_QOS)
        self.node.create_subscription(WrenchStamped, "palpation/press", self.presses.append, RESULT_QOS)
        self.node.create_subscription(WrenchStamped, "palpation/wrench", self.wrenches.append, SENSOR_QOS)
        self.node.create_subscription(PoseStamped, "palpation/tcp_pose", self.poses.append, SENSOR_QOS)
        self.node.create_subscription(JointState, "joint_states", self.joints.append, 10)
        self.palpate = self.node.create_client(Trigger, "palpation/palpate")
        self.abort = self.node.create_client(Trigger, "palpation/abort")
        self.set_parameters = self.node.create_client(SetParameters, "/ur_palpation_node/set_parameters")

    def spin_until(self, done: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"waited {timeout_s:.0f} s for {what}")
            self.executor.spin_once(timeout_sec=0.02)

    def call(self, client: object, request: object, timeout_s: float) -> object:
        future = client.call_async(request)  # type: ignore[attr-defined]
        self.spin_until(future.done, timeout_s, f"an answer from {client.srv_name}")  # type: ignore[attr-defined]
        return future.result()

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        self.context.try_shutdown()


@pytest.fixture
def node_and_probe(ros_env: dict[str, str]) -> Iterator[tuple[subprocess.Popen, Probe]]:
    proc = subprocess.Popen(NODE, env=ros_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    probe = Probe(int(ros_env["ROS_DOMAIN_ID"]))
    try:
        probe.spin_until(lambda: (probe.palpate.service_is_ready() and probe.abort.service_is_ready()
                                  and probe.states == ["idle"]) or proc.poll() is not None, 30.0, "the node")
        assert proc.poll() is None, proc.communicate()[0]
        yield proc, probe
    finally:
        proc.kill()
        proc.wait(timeout=10)
        probe.close()


def test_palpate_from_another_process_publishes_two_presses_and_streams_the_hold(
        node_and_probe: tuple[subprocess.Popen, Probe]) -> None:
    proc, probe = node_and_probe
    value = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value="silicone_ball")
    answer = probe.call(probe.set_parameters, SetParameters.Request(parameters=[Parameter(name="target", value=value)]),
                        10.0)
    assert answer.results[0].successful  # type: ignore[attr-defined]
    bad = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value="bowling_ball")
    answer = probe.call(probe.set_parameters, SetParameters.Request(parameters=[Parameter(name="target", value=bad)]),
                        10.0)
    assert not answer.results[0].successful and "rubber_ball" in answer.results[0].reason  # type: ignore[attr-defined]

    started = time.time()
    response = probe.call(probe.palpate, Trigger.Request(), 30.0)
    ended = time.time()
    assert response.success, response.message  # type: ignore[attr-defined]
    report = json.loads(response.message)  # type: ignore[attr-defined]
    assert report["target"] == "silicone_ball" and report["force_mode_stopped"] is True
    probe.spin_until(lambda: len(probe.presses) == 2 and probe.states[-1] == "done", 5.0, "two presses and done")

    assert probe.states == ["idle", "approaching", "pressing", "holding", "retracting", "rotating",
                            "pressing", "holding", "retracting", "rotating", "done"]
    assert 3.0 < ended - started < 15.0, "the simulated arm runs at real time"
    for press in probe.presses:
        assert press.header.frame_id == "tool0"
        assert abs(press.wrench.force.z + 24.0) <= 1.0            # the object pushes the tool up: -z in tool0
        assert started <= _stamp_s(press) <= ended               # stamp = settle time, in ROS time
    # during each hold window the wrench and pose stream fast enough for a 60 fps camera
    for press in probe.presses:
        t0 = _stamp_s(press)
        in_hold = [_stamp_s(w) for w in probe.wrenches if t0 <= _stamp_s(w) <= t0 + 0.5]
        assert len(in_hold) >= 0.5 * 60, f"{len(in_hold)} wrench messages in the 0.5 s after a press"
        assert max(abs(w.wrench.force.z + 24.0) for w in probe.wrenches if t0 <= _stamp_s(w) <= t0 + 0.5) < 3.0
    assert all(p.header.frame_id == "base" for p in probe.poses[-20:])
    pressed = min(probe.poses, key=lambda p: p.pose.position.z)
    ball = load_scene().get("silicone_ball")
    library = default_library()
    depth = ContactModel(library.gel).depth_at_force(ball.shape, library.get("silicone").elastic, 24.0)
    assert pressed.pose.position.z == pytest.approx(ball.top_m[2] - depth, abs=0.0005)   # silicone top minus its 24 N depth
    assert list(probe.joints[-1].name) == list(JOINT_NAMES) and len(probe.joints[-1].position) == 6

    # palpation/state is latched with depth 1: a subscriber that comes now gets exactly the current state
    late: list[str] = []
    probe.node.create_subscription(String, "palpation/state", lambda m: late.append(m.data), STATE_QOS)
    probe.spin_until(lambda: bool(late), 10.0, "the latched state")
    probe.call(probe.set_parameters, SetParameters.Request(parameters=[]), 10.0)  # a round trip: all delivered
    assert late == ["done"]


def test_abort_during_pressing_ends_in_fault_with_force_mode_stopped(
        node_and_probe: tuple[subprocess.Popen, Probe]) -> None:
    proc, probe = node_and_probe
    palpating = probe.palpate.call_async(Trigger.Request())
    probe.spin_until(lambda: probe.states[-1] == "pressing" and bool(probe.wrenches)
                     and probe.wrenches[-1].wrench.force.z < -3.0, 20.0, "pressing with contact")
    aborted = probe.call(probe.abort, Trigger.Request(), 10.0)
    assert aborted.success, aborted.message  # type: ignore[attr-defined]
    probe.spin_until(palpating.done, 10.0, "the palpate answer")
    report = json.loads(palpating.result().message)
    assert not palpating.result().success
    assert report["outcome"] == "fault" and report["reason"].startswith("aborted: ")
    assert report["force_mode_stopped"] is True
    probe.spin_until(lambda: probe.states[-1].startswith("fault: aborted"), 5.0, "the fault state")
    assert probe.states[-2] == "pressing"
    assert not probe.call(probe.abort, Trigger.Request(), 10.0).success   # nothing left to abort
    assert proc.poll() is None


def test_start_answers_at_once_and_the_cycle_s_end_is_published(node_and_probe: tuple[subprocess.Popen, Probe]) -> None:
    proc, probe = node_and_probe
    results: list[str] = []
    probe.node.create_subscription(String, "palpation/result", lambda m: results.append(m.data), STATE_QOS)
    start = probe.node.create_client(Trigger, "palpation/start")
    probe.spin_until(start.service_is_ready, 10.0, "palpation/start")
    asked = time.monotonic()
    accepted = probe.call(start, Trigger.Request(), 10.0)
    answered_s = time.monotonic() - asked
    assert accepted.success and json.loads(accepted.message) == {  # type: ignore[attr-defined]
        "accepted": True, "cycle_id": 1, "target": "rubber_ball"}
    assert answered_s < 2.0, f"palpation/start took {answered_s:.1f} s to answer"   # a cycle takes ~8 s
    refused = probe.call(start, Trigger.Request(), 10.0)   # while the first one runs
    assert not refused.success and refused.message.startswith("refused: a palpation cycle is running")  # type: ignore[attr-defined]
    probe.spin_until(lambda: bool(results), 60.0, "palpation/result")
    report = json.loads(results[-1])
    assert report["outcome"] == "done" and report["cycle_id"] == 1 and report["target"] == "rubber_ball"
    assert probe.states[-1] == "done" and "approaching" in probe.states


def test_ctrl_c_aborts_the_cycle_visibly_and_core_log_lines_reach_rosout(
        node_and_probe: tuple[subprocess.Popen, Probe]) -> None:
    proc, probe = node_and_probe
    logs: list[Log] = []
    probe.node.create_subscription(Log, "/rosout", logs.append, QoSProfile(depth=100))
    probe.palpate.call_async(Trigger.Request())
    probe.spin_until(lambda: "holding" in probe.states, 20.0, "the first press to settle")
    # the routine (core, Python logging) logs each settled press; the node's logger carries it to /rosout
    probe.spin_until(lambda: any("[tactile_material_ros.robot.palpation] press 0 settled" in m.msg for m in logs),
                     10.0, "the core's log line on /rosout")
    (line,) = [m for m in logs if "press 0 settled" in m.msg]
    assert line.name == "ur_palpation_node" and line.level == Log.INFO
    proc.send_signal(signal.SIGINT)  # Ctrl-C: the node aborts the cycle and says so before it exits
    probe.spin_until(lambda: probe.states[-1].startswith("fault: aborted"), 20.0, "the aborted state")
    assert proc.wait(timeout=20) == 0


@pytest.mark.parametrize(("parameter", "expected"), [
    ("target_force_n:=-5.0", "target_force_n = -5.0 is out of range: allowed [0.5, 100.0]"),
    ("max_force_n:=20.0", "max_force_n = 20.0 must be above target_force_n + force_tolerance_n = 25 N: allowed (25"),
    ("rotation_deg:=400.0", "rotation_deg = 400.0 is out of range: allowed [-360.0, 360.0]"),
])
def test_invalid_parameters_stop_the_node_at_startup_naming_the_parameter_and_range(
        ros_env: dict[str, str], parameter: str, expected: str) -> None:
    proc = subprocess.Popen([*NODE, "-p", parameter], env=ros_env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == EXIT_STARTUP_ERROR, out
    assert "[startup error]" in out and expected in out, out
