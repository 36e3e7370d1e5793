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
    {"namespace": "cell1", "use_sim_time": "true", "mount_z": "0.07", "mount_yaw": "1.5708"},
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

    class Shutdown(_Recorded):
        pass

    stubs = {
        "launch": _module("launch", LaunchDescription=LaunchDescription),
        "launch.actions": _module("launch.actions", DeclareLaunchArgument=DeclareLaunchArgument,
                                  OpaqueFunction=OpaqueFunction, Shutdown=Shutdown),
        "launch.substitutions": _module("launch.substitutions", LaunchConfiguration=_LaunchConfiguration),
        "launch_ros": _module("launch_ros"),
        "launch_ros.actions": _module("launch_ros.actions", Node=Node),
    }
    for name, module in stubs.items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.delenv("AMENT_PREFIX_PATH", raising=False)  # no ament index: no helpers, no robot_state_publisher
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
        on_exit = node.kwargs["on_exit"]
        out[node.kwargs["name"]] = {"executable": node.kwargs["executable"], "files": files, "parameters": values,
                                    "remappings": list(node.kwargs["remappings"]),
                                    "namespace": node.kwargs["namespace"],
                                    "required": on_exit is not None and type(on_exit).__name__ == "Shutdown"}
    return out


def _brought_up(given: dict[str, str]) -> dict[str, dict[str, Any]]:
    """What bringup starts for the same arguments, read back from its command lines."""
    out = {}
    for spec in graph.build_graph(given):
        cmd = command_for(spec, python="python")
        assert cmd[:3] == ["python", "-m", f"tactile_material_ros.nodes.{spec.executable}"]
        ros_args = cmd[cmd.index("--ros-args") + 1:]
        files, values, remaps, name, namespace = [], {}, [], None, ""
        for flag, value in zip(ros_args[::2], ros_args[1::2], strict=True):
            key, _, rest = value.partition(":=")
            if flag == "--params-file":
                files.append(value)
            elif flag == "-p":
                values[key] = yaml.safe_load(rest)  # how rcl reads a -p value
            elif key == "__node":
                name = rest
            elif key == "__ns":
                namespace = rest
            else:
                remaps.append((key, rest))
        out[name] = {"executable": cmd[2].rsplit(".", 1)[1], "files": files, "parameters": values,
                     "remappings": remaps, "namespace": namespace, "required": spec.required}
    return out


@pytest.mark.parametrize("given", ARGUMENT_SETS)
def test_launch_file_and_bringup_start_the_graph(launch_module: types.ModuleType, given: dict[str, str]) -> None:
    expected = {
        spec.name: {"executable": spec.executable, "files": [str(p) for p in spec.parameter_files],
                    "parameters": dict(spec.parameters), "remappings": list(spec.remappings),
                    "namespace": spec.namespace, "required": True}
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
                                                            "use_sim_time": False,
                                                            "model_path": "/opt/m/tactile_vit.onnx"}
    hand_held = [s.name for s in graph.build_graph({"use_sim": "false", "trigger": "contact"})]
    assert hand_held == ["digit_camera_node", "material_classifier_node"]


def test_the_classifier_expects_as_many_presses_as_the_routine_makes(tmp_path: Path) -> None:
    arm_file = config_file("ur_palpation.yaml")
    presses = yaml.safe_load(arm_file.read_text())["/**"]["ros__parameters"]["presses"]
    assert graph.presses_per_cycle(arm_file) == presses
    three = tmp_path / "ur_palpation.yaml"
    three.write_text("/**:\n  ros__parameters:\n    presses: 3\n")
    assert graph.presses_per_cycle(three) == 3
    # a user's params_file comes after the package's file and wins, under the namespace it names
    user = tmp_path / "cell.yaml"
    user.write_text("/cell1/ur_palpation_node:\n  ros__parameters:\n    presses: 1\n")
    specs = {s.name: s for s in graph.build_graph({"namespace": "cell1", "params_file": str(user)})}
    assert specs["material_classifier_node"].parameters["presses_per_cycle"] == 1
    other = {s.name: s for s in graph.build_graph({"namespace": "cell2", "params_file": str(user)})}
    assert other["material_classifier_node"].parameters["presses_per_cycle"] == presses
    three.write_text("/**:\n  ros__parameters:\n    presses: two\n")
    with pytest.raises(graph.GraphError, match="presses in .* must be an integer, got 'two'"):
        graph.presses_per_cycle(three)


def test_every_parameter_file_exists_and_applies_under_any_namespace() -> None:
    for namespace in ("", "cell1", "/plant/cell2"):
        for spec in graph.build_graph({"namespace": namespace}):
            for path in spec.parameter_files:
                assert path.is_file(), f"{spec.name}: parameter file {path} is missing"
                content = yaml.safe_load(path.read_text())
                assert list(content) == ["/**"], f"{path}: keys {list(content)}, expected /**: only"
                expected = content["/**"]["ros__parameters"]
                assert graph.file_parameters(path, spec.name, spec.namespace) == expected


@pytest.mark.parametrize(("key", "matches", "misses"), [
    ("/**", ["/n", "/cell1/n", "/a/b/n"], []),
    ("n", ["/n"], ["/cell1/n"]),                     # a bare name is the root namespace's node only
    ("/**/n", ["/n", "/cell1/n", "/a/b/n"], ["/cell1/m"]),
    ("/cell1/n", ["/cell1/n"], ["/n", "/cell2/n"]),
    ("/*/n", ["/cell1/n"], ["/n", "/a/b/n"]),
])
def test_parameter_file_keys_match_nodes_as_rcl_does(tmp_path: Path, key: str, matches: list[str],
                                                     misses: list[str]) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump({key: {"ros__parameters": {"v": 1}}}))
    for name in matches + misses:
        namespace, _, node = name.rpartition("/")
        assert (graph.file_parameters(path, node, namespace) == {"v": 1}) == (name in matches), (key, name)


def test_required_nodes_end_the_graph_and_helpers_do_not(launch_module: types.ModuleType) -> None:
    # every node of this package is required; the launch file turns that into on_exit=Shutdown (above),
    # bringup into stopping everything (test_graph_palpate_and_classify); a helper is neither
    assert all(spec.required for spec in graph.build_graph({}))
    assert not any(helper.required for helper in graph.helper_nodes({"launch_rviz": "true"}))
    (shutdown,) = {type(n.kwargs["on_exit"]).__name__ for n in launch_module.node_actions(
        {name: a.default for name, a in graph.ARGUMENTS.items()})}
    assert shutdown == "Shutdown"


def test_the_sensor_mount_becomes_a_static_transform_from_the_tool_flange() -> None:
    (mount,) = graph.helper_nodes({"mount_x": "0.01", "mount_z": "0.07", "mount_yaw": "1.5", "namespace": "c1"})
    assert (mount.package, mount.executable) == ("tf2_ros", "static_transform_publisher")
    words = list(mount.arguments)
    flags = dict(zip(words[::2], words[1::2], strict=True))
    assert flags == {"--x": "0.01", "--y": "0.0", "--z": "0.07", "--roll": "0.0", "--pitch": "0.0", "--yaw": "1.5",
                     "--frame-id": "tool0", "--child-frame-id": "digit_link"}
    assert mount.namespace == "/c1"
    # the camera publishes in that child frame, the palpation node its wrench in that parent frame
    specs = {s.name: s for s in graph.build_graph({})}
    assert specs["digit_camera_node"].parameters["frame_id"] == graph.SENSOR_FRAME
    assert specs["ur_palpation_node"].parameters["tool_frame_id"] == graph.TOOL_FRAME
    rviz = graph.helper_nodes({"launch_rviz": "true"})[1]
    assert rviz.arguments[-1].endswith("tactile_material.rviz") and Path(rviz.arguments[-1]).is_file()
    with pytest.raises(graph.GraphError, match="mount_roll:='abc' is not a finite number"):
        graph.helper_nodes({"mount_roll": "abc"})


def test_bad_arguments_are_refused_with_the_known_names() -> None:
    with pytest.raises(graph.GraphError, match="unknown argument.*use_sim, robot_ip"):
        graph.build_graph({"use_simulation": "true"})
    with pytest.raises(graph.GraphError, match="use_sim:='maybe' is not a boolean"):
        graph.build_graph({"use_sim": "maybe"})
    with pytest.raises(graph.GraphError, match="expected name:=value"):
        parse_arguments(["use_sim=true"])
    with pytest.raises(graph.GraphError, match="namespace:='cell-1': 'cell-1' is not a valid name"):
        graph.build_graph({"namespace": "cell-1"})
    with pytest.raises(graph.GraphError, match="params_file:='/nonexistent.yaml' does not exist"):
        graph.build_graph({"params_file": "/nonexistent.yaml"})


def test_the_rviz_layout_shows_overlay_markers_tcp_pose_and_wrench() -> None:
    rviz = yaml.safe_load((LAUNCH_FILE.parent.parent / "config" / "tactile_material.rviz").read_text())
    manager = rviz["Visualization Manager"]
    shown = {d["Topic"]["Value"]: d["Class"] for d in manager["Displays"] if "Topic" in d and d["Enabled"]}
    assert shown["/material_classifier/overlay"] == "rviz_default_plugins/Image"
    assert shown["/material_markers"] == "rviz_default_plugins/MarkerArray"
    assert shown["/palpation/tcp_pose"] == "rviz_default_plugins/Pose"
    assert shown["/palpation/wrench"] == "rviz_default_plugins/Wrench"
    assert manager["Global Options"]["Fixed Frame"] == "base"
    (tf,) = [d for d in manager["Displays"] if d["Class"] == "rviz_default_plugins/TF"]
    assert tf["Enabled"] and all(tf["Frames"][f]["Value"] for f in ("base", graph.TOOL_FRAME, graph.SENSOR_FRAME))


def test_where_tf2_ros_and_rviz2_are_installed_the_launch_file_starts_them(
        launch_module: types.ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(launch_module, "installed", lambda package: package in ("tf2_ros", "rviz2"))
    given = {"namespace": "cell1", "launch_rviz": "true", "mount_z": "0.07"}
    actions = launch_module.node_actions({**{n: a.default for n, a in graph.ARGUMENTS.items()}, **given})
    helpers = {a.kwargs["executable"]: a.kwargs for a in actions if a.kwargs["package"] != graph.PACKAGE}
    assert set(helpers) == {"static_transform_publisher", "rviz2"}        # no robot_state_publisher: not installed
    mount = helpers["static_transform_publisher"]
    assert mount["arguments"] == list(graph.helper_nodes(given)[0].arguments) and "0.07" in mount["arguments"]
    assert mount["namespace"] == "/cell1" and "on_exit" not in mount     # a helper does not end the launch
