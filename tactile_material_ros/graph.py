"""The node graph, described once: nodes, executables, parameter files, parameters, remappings.

``launch/palpate_and_classify.launch.py`` turns it into launch_ros ``Node`` actions and
``bringup`` into processes, so the two cannot disagree. Both take the same arguments,
``name:=value`` on the command line:

======================  =========  ===========================================================
argument                default    meaning
======================  =========  ===========================================================
``use_sim``             ``true``   simulated UR10 and DIGIT (``false``: ur_rtde + a real DIGIT)
``robot_ip``            ``""``     the UR controller's address (needed when use_sim is false)
``digit_serial``        ``""``     the DIGIT's serial, e.g. D20001 (needed when use_sim is false)
``model``               ``""``     ONNX model with its card beside it (empty: the bundled one)
``trigger``             ``press``  classifier trigger: press | contact | continuous
``scene``               ``""``     scene YAML (empty: config/scene_four_balls.yaml)
``record``              ``false``  also start palpation_recorder_node: every cycle into an MCAP bag
``bag_dir``             ``bags``   where the recorder writes its bags (relative: to the working dir)
======================  =========  ===========================================================

With ``trigger:=contact`` and ``use_sim:=false`` the sensor is hand-held: no arm, so the
palpation node is left out. (In simulation the arm stays: the simulated DIGIT only sees
what the simulated arm presses it into.)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tactile_material_ros.paths import PACKAGE, config_file


class GraphError(ValueError):
    """A graph argument is unknown or has a value the graph cannot use."""


@dataclass(frozen=True)
class Argument:
    default: str
    description: str


ARGUMENTS: dict[str, Argument] = {
    "use_sim": Argument("true", "simulated UR10 and DIGIT (true) or the real robot and sensor (false)"),
    "robot_ip": Argument("", "IP address of the UR controller, e.g. 192.168.1.10 (needed when use_sim is false)"),
    "digit_serial": Argument("", "serial number of the DIGIT, e.g. D20001 (needed when use_sim is false)"),
    "model": Argument("", "path of the ONNX model; its card (.json) must sit beside it (empty: bundled model)"),
    "trigger": Argument("press", "when the classifier classifies: press | contact | continuous"),
    "scene": Argument("", "scene YAML with the objects and their poses (empty: config/scene_four_balls.yaml)"),
    "record": Argument("false", "also record every palpation cycle to a rosbag2 MCAP bag (palpation_recorder_node)"),
    "bag_dir": Argument("bags", "folder the recorder writes its bags to (relative paths: the working directory)"),
}

TRUE_WORDS, FALSE_WORDS = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


@dataclass(frozen=True)
class NodeSpec:
    """One node of the graph, as both the launch file and bringup start it."""

    name: str                                   # node name (also the top key in its parameter file)
    executable: str                             # console script of this package (setup.py)
    parameter_files: tuple[Path, ...]           # YAML files with `<name>: ros__parameters:`
    parameters: dict[str, str | bool | int | float] = field(default_factory=dict)  # from the arguments
    remappings: tuple[tuple[str, str], ...] = ()

    @property
    def module(self) -> str:
        """The module that ``python -m`` runs (bringup): nodes/<executable>.py."""
        return f"{PACKAGE}.nodes.{self.executable}"


@dataclass(frozen=True)
class RobotDescription:
    """Where robot_state_publisher's URDF comes from, when the launch file finds these packages."""

    package: str = "ur_description"
    xacro_file: str = "urdf/ur.urdf.xacro"
    xacro_arguments: tuple[tuple[str, str], ...] = (("ur_type", "ur10"), ("name", "ur"))


ROBOT_DESCRIPTION = RobotDescription()


def resolve_arguments(given: Mapping[str, str]) -> dict[str, str]:
    """The arguments with defaults filled in; unknown names raise GraphError listing the known ones."""
    unknown = sorted(set(given) - set(ARGUMENTS))
    if unknown:
        raise GraphError(f"unknown argument(s) {', '.join(unknown)}; known: {', '.join(ARGUMENTS)}")
    return {name: str(given.get(name, arg.default)) for name, arg in ARGUMENTS.items()}


def parse_bool(name: str, value: str) -> bool:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise GraphError(f"{name}:={value!r} is not a boolean; use true or false")


def presses_per_cycle(palpation_file: Path) -> int:
    """The routine's ``presses`` from the palpation node's parameter file (the routine's default: 2)."""
    raw = yaml.safe_load(palpation_file.read_text()) or {}
    presses = raw.get("ur_palpation_node", {}).get("ros__parameters", {}).get("presses", 2)
    if not isinstance(presses, int) or isinstance(presses, bool):
        raise GraphError(f"presses in {palpation_file} must be an integer, got {presses!r}")
    return presses


def build_graph(given: Mapping[str, str] | None = None) -> list[NodeSpec]:
    """The nodes to start for these arguments (``name -> value`` strings, as on a command line)."""
    args = resolve_arguments(given or {})
    use_sim = parse_bool("use_sim", args["use_sim"])
    scene = args["scene"] or str(config_file("scene_four_balls.yaml"))
    camera = NodeSpec(
        name="digit_camera_node",
        executable="digit_camera_node",
        parameter_files=(config_file("digit_camera.yaml"),),
        parameters={"source": "sim" if use_sim else "digit", "serial": args["digit_serial"], "scene_path": scene},
    )
    arm = NodeSpec(
        name="ur_palpation_node",
        executable="ur_palpation_node",
        parameter_files=(config_file("ur_palpation.yaml"),),
        parameters={"arm": "sim" if use_sim else "ur_rtde", "robot_ip": args["robot_ip"], "scene": scene},
    )
    # the classifier labels a cycle once the routine's presses are classified: one number, from the arm's file
    classifier_parameters: dict[str, str | bool | int | float] = {
        "trigger": args["trigger"], "presses_per_cycle": presses_per_cycle(arm.parameter_files[0])}
    if args["model"]:
        classifier_parameters["model_path"] = args["model"]
    classifier = NodeSpec(
        name="material_classifier_node",
        executable="material_classifier_node",
        parameter_files=(config_file("material_classifier.yaml"),),
        parameters=classifier_parameters,
    )
    hand_held = args["trigger"] == "contact" and not use_sim
    nodes = [camera, classifier] if hand_held else [camera, arm, classifier]
    if parse_bool("record", args["record"]):
        nodes.append(NodeSpec(
            name="palpation_recorder_node",
            executable="palpation_recorder_node",
            parameter_files=(),
            parameters={"bag_dir": args["bag_dir"], "scene": scene, "sensor_serial": args["digit_serial"]},
        ))
    return nodes
