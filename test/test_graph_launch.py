"""The launch file and bringup start what graph.py describes: same nodes, same parameters.

launch and launch_ros are not installed here (they come with a ROS 2 installation), so the
launch file is imported with small stand-ins for those two packages injected into
sys.modules: a boundary double that records what the launch file asks launch_ros to start.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from tactile_material_ros import graph
from tactile_material_ros.bringup import command_for, parse_arguments
from tactile_material_ros.paths import config_file

LAUNCH_FILE = Path(__file__).resolve().parent.parent / "launch" / "palpate_and_classify.launch.py"

ARGUMENT_SETS = [
    {},
    {"use_sim": "false", "robot_ip": "10.0.0.5", "digit_serial": "D20001", "model": "/opt/m/tactile_vit.onnx",
     "trigger": "continuous", "scene": "/tmp/scene.yaml"},
    {"use_sim": "false", "trigger": "contact"},
    {"use_sim": "true", "trigger": "contact", "digit_serial": "true"},
]


class _Recorded:
    """Stand-in for a launch / launch_ros class: keeps its constructor arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs


class _LaunchConfiguration(_Recorded):
    def perform(self, context: dict[str, str]) -> str:
        return context[self.args[0]]


def _module(name: str, **attrs: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    return module


@pytest.fixture
def launch_module(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    class LaunchDescription(_Recorded):
        pass

    class DeclareLaunchArgument(_Recorded):
        pass

    class OpaqueFunction(_Recorded):
        pass

    class Node(_Recorded):
        pass

    stubs = {
        "launch": _module("launch", LaunchDescription=LaunchDescription),
        "launch.actions": _module("launch.actions", DeclareLaunchArgument=DeclareLaunchArgument,
                                  OpaqueFunction=OpaqueFunction),
        "launch.substitutions": _module("launch.substitutions", LaunchConfiguration=_LaunchConfiguration),
        "launch_ros": _module("launch_ros"),
        "launch_ros.actions": _module("launch_ros.actions", Node=Node),
    }
    for name, module in stubs.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.delenv("AMENT_PREFIX_PATH", raising=False)  # no ament index: no robot_state_publisher
    spec = importlib.util.spec_from_file_location("palpate_and_classify_launch", LAUNCH_FILE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _launched(launch_module: types.ModuleType, given: dict[str, str]) -> dict[str, dict[str, Any]]:
    """What the launch file starts for these command-line arguments, per node name."""
    description = launch_module.generate_launch_description()
    entities = description.args[0]
    declared = {e.args[0]: e.kwargs["default_value"] for e in entities if type(e).__name__ == "DeclareLaunchArgument"}
    assert declared == {name: arg.default for name, arg in graph.ARGUMENTS.items()}
    (opaque,) = [e for e in entities if type(e).__name__ == "OpaqueFunction"]
    context = {**declared, **given}
    nodes = opaque.kwargs["function"](context)
    out = {}
    for node in nodes:
        files = [p for p in node.kwargs["parameters"] if isinstance(p, str)]
        values: dict[str, Any] = {}
        for p in node.kwargs["parameters"]:
            if isinstance(p, dict):
                values.update(p)
        out[node.kwargs["name"]] = {"executable": node.kwargs["executable"], "files": files, "parameters": values,
                                    "remappings": list(node.kwargs["remappings"])}
    return out


def _brought_up(given: dict[str, str]) -> dict[str, dict[str, Any]]:
    """What bringup starts for the same arguments, read back from its command lines."""
    out = {}
    for spec in graph.build_graph(given):
        cmd = command_for(spec, python="python")
        assert cmd[:3] == ["python", "-m", f"tactile_material_ros.nodes.{spec.executable}"]
        ros_args = cmd[cmd.index("--ros-args") + 1:]
        files, values, remaps, name = [], {}, [], None
        for flag, value in zip(ros_args[::2], ros_args[1::2], strict=True):
            key, _, rest = value.partition(":=")
            if flag == "--params-file":
                files.append(value)
            elif flag == "-p":
                values[key] = yaml.safe_load(rest)  # how rcl reads a -p value
            elif key == "__node":
                name = rest
            else:
                remaps.append((key, rest))
        out[name] = {"executable": cmd[2].rsplit(".", 1)[1], "files": files, "parameters": values,
                     "remappings": remaps}
    return out


@pytest.mark.parametrize("given", ARGUMENT_SETS)
def test_launch_file_and_bringup_start_the_graph(launch_module: types.ModuleType, given: dict[str, str]) -> None:
    expected = {
        spec.name: {"executable": spec.executable, "files": [str(p) for p in spec.parameter_files],
                    "parameters": dict(spec.parameters), "remappings": list(spec.remappings)}
        for spec in graph.build_graph(given)
    }
    assert _launched(launch_module, given) == expected
    assert _brought_up(given) == expected


def test_the_arguments_reach_the_nodes() -> None:
    real = {s.name: s for s in graph.build_graph(ARGUMENT_SETS[1])}
    assert real["ur_palpation_node"].parameters["arm"] == "ur_rtde"
    assert real["ur_palpation_node"].parameters["robot_ip"] == "10.0.0.5"
    assert real["digit_camera_node"].parameters["serial"] == "D20001"
    assert real["material_classifier_node"].parameters == {"trigger": "continuous", "presses_per_cycle": 2,
                                                            "model_path": "/opt/m/tactile_vit.onnx"}
    hand_held = [s.name for s in graph.build_graph({"use_sim": "false", "trigger": "contact"})]
    assert hand_held == ["digit_camera_node", "material_classifier_node"]


def test_the_classifier_expects_as_many_presses_as_the_routine_makes(tmp_path: Path) -> None:
    arm_file = config_file("ur_palpation.yaml")
    presses = yaml.safe_load(arm_file.read_text())["ur_palpation_node"]["ros__parameters"]["presses"]
    assert graph.presses_per_cycle(arm_file) == presses
    three = tmp_path / "ur_palpation.yaml"
    three.write_text("ur_palpation_node:\n  ros__parameters:\n    presses: 3\n")
    assert graph.presses_per_cycle(three) == 3
    three.write_text("ur_palpation_node:\n  ros__parameters:\n    presses: two\n")
    with pytest.raises(graph.GraphError, match="presses in .* must be an integer, got 'two'"):
        graph.presses_per_cycle(three)


def test_every_parameter_file_exists_and_is_for_its_node() -> None:
    for spec in graph.build_graph({}):
        for path in spec.parameter_files:
            assert path.is_file(), f"{spec.name}: parameter file {path} is missing"
            content = yaml.safe_load(path.read_text())
            assert "ros__parameters" in content[spec.name], f"{path} has no {spec.name}: ros__parameters:"


def test_bad_arguments_are_refused_with_the_known_names() -> None:
    with pytest.raises(graph.GraphError, match="unknown argument.*use_sim, robot_ip"):
        graph.build_graph({"use_simulation": "true"})
    with pytest.raises(graph.GraphError, match="use_sim:='maybe' is not a boolean"):
        graph.build_graph({"use_sim": "maybe"})
    with pytest.raises(graph.GraphError, match="expected name:=value"):
        parse_arguments(["use_sim=true"])


def test_the_rviz_layout_shows_overlay_markers_tcp_pose_and_wrench() -> None:
    rviz = yaml.safe_load((LAUNCH_FILE.parent.parent / "config" / "tactile_material.rviz").read_text())
    manager = rviz["Visualization Manager"]
    shown = {d["Topic"]["Value"]: d["Class"] for d in manager["Displays"] if "Topic" in d and d["Enabled"]}
    assert shown["/material_classifier/overlay"] == "rviz_default_plugins/Image"
    assert shown["/material_markers"] == "rviz_default_plugins/MarkerArray"
    assert shown["/palpation/tcp_pose"] == "rviz_default_plugins/Pose"
    assert shown["/palpation/wrench"] == "rviz_default_plugins/Wrench"
    assert manager["Global Options"]["Fixed Frame"] == "base"
