"""The whole graph, started by bringup as separate processes: one palpation gives one label.

Real nodes (simulated UR10, simulated DIGIT, classifier with the bundled model, or with a
small real ONNX test model where the test is about the plumbing) on a random ROS_DOMAIN_ID;
this process only calls the palpate service and listens.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from model_fixture import make_test_model
from rcl_interfaces.msg import ParameterDescriptor, ParameterType
from rcl_interfaces.srv import DescribeParameters, GetParameters, ListParameters
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import parameter_value_to_python
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import Float32MultiArray, String
from std_srvs.srv import Trigger

from tactile_material_ros.graph import applied_parameters, build_graph
from tactile_material_ros.inference.model_card import ModelCard, card_path_for
from tactile_material_ros.nodes.node_support import EXIT_STARTUP_ERROR, STATE_QOS
from tactile_material_ros.paths import model_file
from tactile_material_ros.sim.scene import load_scene

ANY_QOS = QoSProfile(depth=20, reliability=ReliabilityPolicy.BEST_EFFORT)


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_test_model(tmp_path_factory.mktemp("model"))


class _Output:
    """Collects a process's output lines on a thread, so the pipe never fills."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def probe(ros_env: dict[str, str]) -> Iterator[tuple[Node, SingleThreadedExecutor]]:
    context = rclpy.context.Context()
    rclpy.init(context=context, domain_id=int(ros_env["ROS_DOMAIN_ID"]))
    node = Node("graph_probe", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    try:
        yield node, executor
    finally:
        executor.shutdown()
        node.destroy_node()
        context.try_shutdown()


def _spin_until(executor: SingleThreadedExecutor, done: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout_s:.0f} s for {what}")
        executor.spin_once(timeout_sec=0.05)


def _bringup(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tactile_material_ros.bringup", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise


class _Graph:
    """bringup with some arguments, and what this process hears from the graph it started."""

    def __init__(self, args: list[str], env: dict[str, str], probe: tuple[Node, SingleThreadedExecutor]) -> None:
        node, self.executor = probe
        self.labels: list[str] = []
        self.probabilities: list[Float32MultiArray] = []
        self.states: list[str] = []
        self.diagnostics: list[dict[str, str]] = []   # the classifier's
        self.reports: list[DiagnosticArray] = []      # material_report
        node.create_subscription(String, "material_label", lambda m: self.labels.append(m.data), ANY_QOS)
        node.create_subscription(Float32MultiArray, "material_probabilities", self.probabilities.append, ANY_QOS)
        node.create_subscription(String, "palpation/state", lambda m: self.states.append(m.data), STATE_QOS)
        node.create_subscription(DiagnosticArray, "material_report", self.reports.append, STATE_QOS)
        node.create_subscription(DiagnosticArray, "/diagnostics", lambda m: self.diagnostics.extend(
            {kv.key: kv.value for kv in s.values} for s in m.status if s.name.startswith("/material_classifier_node: ")), 10)
        self.palpate = node.create_client(Trigger, "palpation/palpate")
        self.get_parameters = node.create_client(GetParameters, "/material_classifier_node/get_parameters")
        self.bringup = _bringup(args, env)
        self.output = _Output(self.bringup)

    def wait_ready(self) -> list[str]:
        """Wait for the services and the classifier's diagnostics; return its class_names parameter."""
        _spin_until(self.executor, lambda: (self.palpate.service_is_ready() and self.get_parameters.service_is_ready()
                                            and bool(self.diagnostics)) or self.bringup.poll() is not None,
                    60.0, "the graph to come up")
        assert self.bringup.poll() is None, self.output.text
        future = self.get_parameters.call_async(GetParameters.Request(names=["class_names"]))
        _spin_until(self.executor, future.done, 10.0, "the classifier's class_names")
        return list(future.result().values[0].string_array_value)

    def palpate_once(self, labels_expected: int) -> dict[str, str]:
        """One palpation cycle; returns the classifier's diagnostics published after its last label."""
        future = self.palpate.call_async(Trigger.Request())
        try:
            _spin_until(self.executor, lambda: future.done() and len(self.labels) >= labels_expected, 120.0,
                        "the palpation and its label(s)")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}: labels {self.labels}, states {self.states}, palpate answered "
                               f"{future.done()}, classifier {self.diagnostics[-1:]}; graph output:\n"
                               + "\n".join(self.output.lines[-40:])) from None
        assert future.result().success, future.result().message
        self.diagnostics.clear()
        _spin_until(self.executor, lambda: bool(self.diagnostics), 5.0, "the classifier's diagnostics")
        return self.diagnostics[-1]

    def close(self) -> None:
        if self.bringup.poll() is None:
            self.bringup.kill()
            self.bringup.wait()


def test_one_palpation_gives_one_label_with_probabilities_in_card_order(
        ros_env: dict[str, str], probe: tuple[Node, SingleThreadedExecutor]) -> None:
    # the defaults of bringup: simulated arm and DIGIT, the bundled model, the four-ball scene
    bundled = model_file()
    assert bundled.is_file(), f"the bundled model {bundled} is missing"
    graph = _Graph([], ros_env, probe)
    try:
        class_names = graph.wait_ready()
        assert class_names == list(ModelCard.load(card_path_for(bundled)).class_names)
        diagnostics = graph.palpate_once(labels_expected=1)
        # the classifier's own count, reported after the label, says it published exactly one,
        # made from both presses (each had frames in its hold window; at most 8 per press)
        assert diagnostics["results_published"] == "1"
        assert diagnostics["presses_without_frames"] == "0"
        assert 2 <= int(diagnostics["frames_classified"]) <= 16, diagnostics
        (probs,) = graph.probabilities
        assert probs.layout.dim[0].label == "material" and probs.layout.dim[0].size == len(class_names)
        assert sum(probs.data) == pytest.approx(1.0, abs=1e-4)
        # the default target is the scene's first object; the label is its material, and it is the
        # class that the probabilities, read in the card's order, rank first
        truth = load_scene().objects[0].material
        assert graph.labels == [truth]
        assert class_names[max(range(len(class_names)), key=lambda i: probs.data[i])] == truth
        assert "approaching" in graph.states and graph.states[-1] == "done"
        # material_report ties the label to its probabilities, cycle and target, stamped with the capture time
        _spin_until(graph.executor, lambda: bool(graph.reports), 5.0, "material_report")
        (report,) = graph.reports
        (status,) = report.status
        values = {kv.key: kv.value for kv in status.values}
        assert status.message == values["label"] == truth and values["reason"] == ""
        assert values["cycle_id"] == "1" and values["target"] == load_scene().objects[0].name
        assert [float(values[f"p/{name}"]) for name in class_names] == pytest.approx(list(probs.data), abs=1e-6)
        assert status.hardware_id == ModelCard.load(card_path_for(bundled)).sha256
        assert report.header.frame_id == "digit_link" and report.header.stamp.sec > 0

        assert _stop(graph.bringup) == 0, graph.output.text      # SIGTERM: every node stopped cleanly
        for name in ("digit_camera_node", "ur_palpation_node", "material_classifier_node"):
            assert any(line.startswith(f"[{name}] ") for line in graph.output.lines), f"no output from {name}"
    finally:
        graph.close()


def test_in_contact_mode_each_press_of_the_simulated_sensor_is_one_touch_and_one_label(
        model_path: Path, ros_env: dict[str, str], probe: tuple[Node, SingleThreadedExecutor]) -> None:
    # the contact detector, not the palpation events, finds the two presses in the simulated frames
    graph = _Graph([f"model:={model_path}", "trigger:=contact"], ros_env, probe)
    try:
        graph.wait_ready()
        diagnostics = graph.palpate_once(labels_expected=2)
        assert diagnostics["results_published"] == "2"
        assert len(graph.labels) == 2 and len(graph.probabilities) == 2
        assert diagnostics["reference"] == "start-up"
    finally:
        graph.close()


def test_bringup_stops_the_graph_and_fails_when_a_node_dies(model_path: Path, tmp_path: Path,
                                                            ros_env: dict[str, str]) -> None:
    tampered = tmp_path / "tampered.onnx"
    tampered.write_bytes(model_path.read_bytes()[:-1])
    (tmp_path / "tampered.json").write_text(model_path.with_suffix(".json").read_text())
    bringup = _bringup([f"model:={tampered}"], ros_env)
    output = _Output(bringup)
    try:
        code = bringup.wait(timeout=60)
    finally:
        if bringup.poll() is None:
            bringup.kill()
            bringup.wait()
    assert code == EXIT_STARTUP_ERROR, output.text
    assert "[material_classifier_node] [ERROR]" in output.text and "[startup error]" in output.text
    assert "does not match its card" in output.text
    assert "material_classifier_node exited with code 2: stopping the graph" in output.text


def _descriptors(node: Node, executor: SingleThreadedExecutor, fqn: str) -> list[ParameterDescriptor]:
    """Every parameter a node declared, described by the node itself (its list and describe services)."""
    lister = node.create_client(ListParameters, f"{fqn}/list_parameters")
    describer = node.create_client(DescribeParameters, f"{fqn}/describe_parameters")
    _spin_until(executor, lambda: lister.service_is_ready() and describer.service_is_ready(), 10.0, fqn)
    listed = lister.call_async(ListParameters.Request())
    _spin_until(executor, listed.done, 10.0, f"{fqn}'s parameter list")
    names = [n for n in listed.result().result.names if n not in ("use_sim_time", "start_type_description_service")]
    described = describer.call_async(DescribeParameters.Request(names=names))
    _spin_until(executor, described.done, 10.0, f"{fqn}'s parameter descriptions")
    return list(described.result().descriptors)


def test_under_a_namespace_every_parameter_file_value_is_applied_and_every_number_has_a_range(
        model_path: Path, tmp_path: Path, ros_env: dict[str, str], probe: tuple[Node, SingleThreadedExecutor]) -> None:
    # the package's files are keyed /**:, a user's params_file comes after them; read back from every node
    user = tmp_path / "cell1.yaml"
    user.write_text("/**/ur_palpation_node:\n  ros__parameters:\n    target: wood_ball\n    hold_time_s: 0.7\n"
                    "/cell1/material_classifier_node:\n  ros__parameters:\n    top_k: 3\n"
                    "/**:\n  ros__parameters:\n    idle_rate_hz: 5.0\n")
    given = {"namespace": "cell1", "params_file": str(user), "model": str(model_path)}
    node, executor = probe
    specs = build_graph(given)
    clients = {s.name: node.create_client(GetParameters, f"/cell1/{s.name}/get_parameters") for s in specs}
    bringup = _bringup([f"{k}:={v}" for k, v in given.items()], ros_env)
    output = _Output(bringup)
    try:
        _spin_until(executor, lambda: all(c.service_is_ready() for c in clients.values()) or bringup.poll() is not None,
                    60.0, "the nodes under /cell1")
        assert bringup.poll() is None, output.text
        for spec in specs:
            expected = {k: v for k, v in applied_parameters(spec).items()
                        if spec.name == "ur_palpation_node" or k != "idle_rate_hz"}  # declared by the arm only
            future = clients[spec.name].call_async(GetParameters.Request(names=list(expected)))
            _spin_until(executor, future.done, 10.0, f"{spec.name}'s parameters")
            got = dict(zip(expected, (parameter_value_to_python(v) for v in future.result().values), strict=True))
            assert got == expected, spec.name
        arm = {s.name: s for s in specs}["ur_palpation_node"]
        assert applied_parameters(arm)["target"] == "wood_ball" and applied_parameters(arm)["hold_time_s"] == 0.7
        # every numeric parameter a node declares carries its range in the descriptor (rclpy's own excepted)
        for spec in specs:
            described = _descriptors(node, executor, f"/cell1/{spec.name}")
            numeric = {d.name: d for d in described if d.type in (ParameterType.PARAMETER_INTEGER,
                                                                   ParameterType.PARAMETER_DOUBLE)}
            assert numeric, spec.name
            no_range = [n for n, d in numeric.items() if not (d.integer_range or d.floating_point_range)]
            assert no_range == [], f"{spec.name}: no range on {no_range}"
    finally:
        assert _stop(bringup, signal.SIGINT) == 0, output.text
