"""Teach by touch through the running graph: record cycles, build a data set, enrol, load it live, get the
taught label.

bringup starts the simulated cell with ``record:=true``; this process sets the arm's target and the
recorder's label, palpates two objects once each, splits the bag, turns it into a TVL CSV, enrols a
model of the two user-named classes on top of the bundled encoder, and makes the running classifier
load it through its ``model_path`` parameter (SetParameters) and ``~/reload_model``. One more palpation
of the first object must come back with the label the user gave it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import test_graph_palpate_and_classify as graph_tests
from diagnostic_msgs.msg import DiagnosticArray
from model_fixture import make_test_model
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from std_msgs.msg import String
from std_srvs.srv import Trigger
from test_graph_palpate_and_classify import ANY_QOS, _bringup, _Output, _spin_until, _stop

from tactile_material_ros.inference.model_card import ModelCard, card_path_for
from tactile_material_ros.recording.bag_dataset import BagDatasetConfig, build_dataset
from tactile_material_ros.recording.palpation_bag import read_cycles

enrol_module = pytest.importorskip("tactile_material_ros.learning.enrol")
probe = graph_tests.probe    # the fixture: a probe node on the test's ROS domain

TAUGHT = {"rubber_ball": "red_ball", "wood_ball": "brown_ball"}   # target -> the user's name for it


def _string(value: str) -> ParameterValue:
    return ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)


class _Cell:
    """The probe's view of the graph: services and parameters it calls, topics it hears."""

    def __init__(self, node: Node, executor: SingleThreadedExecutor, output: _Output) -> None:
        self.executor = executor
        self.output = output
        self.labels: list[str] = []
        self.recorder: list[dict[str, str]] = []
        node.create_subscription(String, "material_label", lambda m: self.labels.append(m.data), ANY_QOS)
        node.create_subscription(DiagnosticArray, "/diagnostics", lambda m: self.recorder.extend(
            {kv.key: kv.value for kv in s.values} for s in m.status if "palpation_recorder_node" in s.name), 10)
        self.palpate = node.create_client(Trigger, "palpation/palpate")
        self.split = node.create_client(Trigger, "palpation_recorder_node/split_bagfile")
        self.reload = node.create_client(Trigger, "material_classifier_node/reload_model")
        self.set_arm = node.create_client(SetParameters, "ur_palpation_node/set_parameters")
        self.set_recorder = node.create_client(SetParameters, "palpation_recorder_node/set_parameters")
        self.set_classifier = node.create_client(SetParameters, "material_classifier_node/set_parameters")
        self.get_classifier = node.create_client(GetParameters, "material_classifier_node/get_parameters")

    def call(self, client: object, request: object, timeout_s: float, what: str) -> object:
        future = client.call_async(request)  # type: ignore[attr-defined]
        _spin_until(self.executor, future.done, timeout_s, what)
        return future.result()

    def set(self, client: object, name: str, value: str) -> object:
        answer = self.call(client, SetParameters.Request(parameters=[Parameter(name=name, value=_string(value))]),
                           60.0, f"setting {name}")
        return answer.results[0]  # type: ignore[attr-defined]

    def class_names(self) -> list[str]:
        answer = self.call(self.get_classifier, GetParameters.Request(names=["class_names"]), 10.0, "class_names")
        return list(answer.values[0].string_array_value)  # type: ignore[attr-defined]

    def palpate_once(self, target: str) -> str:
        assert self.set(self.set_arm, "target", target).successful
        before = len(self.labels)
        answer = self.call(self.palpate, Trigger.Request(), 120.0, f"palpating {target}")
        assert answer.success, f"{answer.message}; graph output:\n" + "\n".join(  # type: ignore[attr-defined]
            self.output.lines[-40:])
        _spin_until(self.executor, lambda: len(self.labels) > before, 30.0, f"the label of {target}")
        return self.labels[-1]


def test_recorded_cycles_taught_and_loaded_live_give_the_taught_label(
        ros_env: dict[str, str], probe: tuple[Node, SingleThreadedExecutor], tmp_path: Path) -> None:
    start_model = make_test_model(tmp_path / "start")     # a small model to start with: it is replaced
    bringup = _bringup([f"model:={start_model}", "record:=true", f"bag_dir:={tmp_path / 'bags'}"], ros_env)
    output = _Output(bringup)
    cell = _Cell(*probe, output)
    try:
        clients = (cell.palpate, cell.split, cell.reload, cell.set_arm, cell.set_recorder, cell.set_classifier,
                   cell.get_classifier)
        _spin_until(cell.executor, lambda: all(c.service_is_ready() for c in clients) or bringup.poll() is not None,
                    90.0, "the graph with its recorder to come up")
        assert bringup.poll() is None, output.text

        for target, label in TAUGHT.items():          # the user names what the arm presses next
            assert cell.set(cell.set_recorder, "label", label).successful
            cell.palpate_once(target)
        _spin_until(cell.executor, lambda: bool(cell.recorder) and cell.recorder[-1]["cycles_written"] == str(len(TAUGHT)),
                    20.0, "the recorder to write every cycle")
        split = cell.call(cell.split, Trigger.Request(), 20.0, "splitting the bag")
        assert split.success, split.message  # type: ignore[attr-defined]
        bag = Path(split.message)  # type: ignore[attr-defined]
        cycles = read_cycles(bag)
        assert [(c.target, c.label, c.label_source) for c in cycles] == [
            (target, label, "user") for target, label in TAUGHT.items()]
        assert all(len(c.windows) == 2 and all(c.frames_by_press()) and c.reference is not None for c in cycles)

        data = build_dataset(BagDatasetConfig((str(bag),), str(tmp_path / "data"), frames_per_press=3))
        taught = tmp_path / "taught.onnx"
        enrol_module.enrol(enrol_module.EnrolConfig(data=str(data), out=str(taught)), progress=False)

        tampered = tmp_path / "tampered.onnx"             # a bad sha256 is refused and the old model stays
        tampered.write_bytes(taught.read_bytes() + b"\0")
        card_path_for(tampered).write_text(card_path_for(taught).read_text())
        before = cell.class_names()
        refused = cell.set(cell.set_classifier, "model_path", str(tampered))
        assert not refused.successful and "does not match its card" in refused.reason
        assert cell.class_names() == before

        assert cell.set(cell.set_classifier, "model_path", str(taught)).successful
        assert sorted(cell.class_names()) == sorted(TAUGHT.values())
        answer = cell.call(cell.reload, Trigger.Request(), 60.0, "reload_model")
        assert answer.success, answer.message  # type: ignore[attr-defined]
        summary = json.loads(answer.message)  # type: ignore[attr-defined]
        card = ModelCard.load(card_path_for(taught))
        assert summary["sha256"] == card.sha256 and summary["class_names"] == list(card.class_names)

        assert cell.palpate_once("rubber_ball") == TAUGHT["rubber_ball"]
        assert _stop(bringup) == 0, output.text
    finally:
        if bringup.poll() is None:
            bringup.kill()
            bringup.wait()
