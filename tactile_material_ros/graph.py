"""The node graph, described once: nodes, executables, parameter files, parameters, remappings.

``launch/palpate_and_classify.launch.py`` turns it into launch_ros ``Node`` actions and
``bringup`` into processes, so the two cannot disagree. Both take the same arguments,
``name:=value`` on the command line (``bringup --help`` lists them with their meaning):

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
``namespace``           ``""``     ROS namespace of every node, e.g. ``cell1``
``params_file``         ``""``     a parameter YAML applied after the package's own files
``use_sim_time``        ``false``  the nodes take their time from ``/clock``
``launch_rviz``         ``false``  also start rviz2 with config/tactile_material.rviz
``mount_x`` .. ``_z``   0, 0, 0.06 where ``digit_link`` sits in the tool flange frame ``tool0`` [m]
``mount_roll`` .. yaw   ``0.0``    its orientation in ``tool0`` (roll, pitch, yaw) [rad]
======================  =========  ===========================================================

With ``trigger:=contact`` and ``use_sim:=false`` the sensor is hand-held: no arm, so the
palpation node is left out. (In simulation the arm stays: the simulated DIGIT only sees
what the simulated arm presses it into.)

The package's parameter files are keyed ``/**:`` so that they apply under any namespace;
``params_file`` may use ``/**:`` (every node) or a node's name (``/**/ur_palpation_node:``,
``/cell1/ur_palpation_node:``). The graph's own nodes are *required*: when one exits, the
launch (``on_exit=Shutdown``) and bringup both stop the rest. The helpers (the sensor's static
transform, rviz2) are started where their packages are installed, and may exit alone.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tactile_material_ros.paths import PACKAGE, config_file


class GraphError(ValueError):
    """A graph argument is unknown or has a value the graph cannot use."""


@dataclass(frozen=True)
class Argument:
    default: str
    description: str


TOOL_FRAME = "tool0"          # the UR tool flange (ur_description's name)
SENSOR_FRAME = "digit_link"   # the DIGIT's frame: the images' frame_id
MOUNT_AXES = ("x", "y", "z", "roll", "pitch", "yaw")

ARGUMENTS: dict[str, Argument] = {
    "use_sim": Argument("true", "simulated UR10 and DIGIT (true) or the real robot and sensor (false)"),
    "robot_ip": Argument("", "IP address of the UR controller, e.g. 192.168.1.10 (needed when use_sim is false)"),
    "digit_serial": Argument("", "serial number of the DIGIT, e.g. D20001 (needed when use_sim is false)"),
    "model": Argument("", "path of the ONNX model; its card (.json) must sit beside it (empty: bundled model)"),
    "trigger": Argument("press", "when the classifier classifies: press | contact | continuous"),
    "scene": Argument("", "scene YAML with the objects and their poses (empty: config/scene_four_balls.yaml)"),
    "record": Argument("false", "also record every palpation cycle to a rosbag2 MCAP bag (palpation_recorder_node)"),
    "bag_dir": Argument("bags", "folder the recorder writes its bags to (relative paths: the working directory)"),
    "namespace": Argument("", "ROS namespace of every node of the graph, e.g. cell1 (empty: the root namespace)"),
    "params_file": Argument("", "a parameter YAML applied after the package's own files; keys /**: (every node) "
                            "or a node's name, e.g. /**/ur_palpation_node:"),
    "use_sim_time": Argument("false", "the nodes take their time from /clock (e.g. a bag played with --clock)"),
    "launch_rviz": Argument("false", "also start rviz2 with config/tactile_material.rviz (where rviz2 is installed)"),
    "mount_x": Argument("0.0", f"x of {SENSOR_FRAME} in the tool flange frame {TOOL_FRAME} [m]"),
    "mount_y": Argument("0.0", f"y of {SENSOR_FRAME} in {TOOL_FRAME} [m]"),
    "mount_z": Argument("0.06", f"z of {SENSOR_FRAME} in {TOOL_FRAME} [m] (the gel surface: the pendant's TCP z)"),
    "mount_roll": Argument("0.0", f"roll of {SENSOR_FRAME} in {TOOL_FRAME} [rad]"),
    "mount_pitch": Argument("0.0", f"pitch of {SENSOR_FRAME} in {TOOL_FRAME} [rad]"),
    "mount_yaw": Argument("0.0", f"yaw of {SENSOR_FRAME} in {TOOL_FRAME} [rad]"),
}

TRUE_WORDS, FALSE_WORDS = ("true", "1", "yes", "on"), ("false", "0", "no", "off")
_NAME_TOKEN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class NodeSpec:
    """One node of the graph, as both the launch file and bringup start it."""

    name: str                                   # node name
    executable: str                             # console script of this package (setup.py)
    parameter_files: tuple[Path, ...]           # YAML files keyed `/**:` (or the node's name), in order
    parameters: dict[str, str | bool | int | float] = field(default_factory=dict)  # from the arguments
    remappings: tuple[tuple[str, str], ...] = ()
    namespace: str = ""                         # "" or "/cell1"
    required: bool = True                       # the graph cannot run without it: its exit stops everything

    @property
    def module(self) -> str:
        """The module that ``python -m`` runs (bringup): nodes/<executable>.py."""
        return f"{PACKAGE}.nodes.{self.executable}"


@dataclass(frozen=True)
class HelperNode:
    """A node of another package (tf2_ros, rviz2), started where that package is installed."""

    package: str
    executable: str
    name: str
    arguments: tuple[str, ...] = ()
    namespace: str = ""
    parameters: dict[str, str | bool | int | float] = field(default_factory=dict)
    required: bool = False


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


def parse_namespace(value: str) -> str:
    """``cell1`` / ``/cell1/`` / ``/a/b`` -> ``/cell1`` / ``/a/b``; ``""`` stays the root (``""``)."""
    tokens = [t for t in value.strip().strip("/").split("/") if t] if value.strip() else []
    bad = [t for t in tokens if not _NAME_TOKEN.match(t)]
    if bad:
        raise GraphError(f"namespace:={value!r}: {bad[0]!r} is not a valid name (letters, digits, _; "
                         "not starting with a digit), e.g. namespace:=cell1")
    return "/" + "/".join(tokens) if tokens else ""


def mount_offset(args: Mapping[str, str]) -> tuple[float, ...]:
    """(x, y, z, roll, pitch, yaw) of the sensor in the tool flange frame, from the mount_* arguments."""
    values = []
    for axis in MOUNT_AXES:
        text = args[f"mount_{axis}"]
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise GraphError(f"mount_{axis}:={text!r} is not a finite number (metres or radians), e.g. "
                             f"mount_{axis}:={ARGUMENTS['mount_' + axis].default}")
        values.append(value)
    return tuple(values)


def _key_pattern(key: str) -> re.Pattern[str]:
    """A parameter file's node key as rcl reads it: ``/**`` any namespaces, ``*`` one name; no leading / = /."""
    parts = [p for p in key.strip("/").split("/") if p]
    regex = ""
    for part in parts:
        regex += "(/[^/]+)*" if part == "**" else "/" + re.escape(part).replace(r"\*", "[^/]+")
    return re.compile(regex or "/")


def _node_sections(raw: Any, prefix: str = "") -> list[tuple[str, dict[str, Any]]]:
    """(key, ros__parameters) of each node entry of a parameter file, in file order (nested keys joined)."""
    sections: list[tuple[str, dict[str, Any]]] = []
    if not isinstance(raw, dict):
        return sections
    for key, value in raw.items():
        if not isinstance(value, dict):
            continue
        path = f"{prefix}/{str(key).strip('/')}"
        if isinstance(value.get("ros__parameters"), dict):
            sections.append((path, value["ros__parameters"]))
        else:
            sections += _node_sections(value, path)
    return sections


def file_parameters(path: Path, node_name: str, namespace: str = "") -> dict[str, Any]:
    """The parameters that one parameter file gives the node ``namespace/node_name``, as rcl applies them:
    every matching entry (``/**``, ``/**/name``, ``/ns/name``, ``name`` = ``/name``) in file order."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise GraphError(f"cannot read the parameter file {path}: {exc}") from None
    fully_qualified = f"{namespace}/{node_name}"
    values: dict[str, Any] = {}
    for key, parameters in _node_sections(raw):
        if _key_pattern(key).fullmatch(fully_qualified):
            values.update(parameters)
    return values


def applied_parameters(spec: NodeSpec) -> dict[str, Any]:
    """What the node starts with: its files in order, then the graph's parameters (as rcl and launch_ros)."""
    values: dict[str, Any] = {}
    for path in spec.parameter_files:
        values.update(file_parameters(path, spec.name, spec.namespace))
    return {**values, **spec.parameters}


def presses_per_cycle(palpation_files: Path | tuple[Path, ...], namespace: str = "") -> int:
    """The routine's ``presses`` from the palpation node's parameter files (the routine's default: 2)."""
    files = (palpation_files,) if isinstance(palpation_files, Path) else palpation_files
    presses: Any = 2
    for path in files:
        presses = file_parameters(path, "ur_palpation_node", namespace).get("presses", presses)
        if not isinstance(presses, int) or isinstance(presses, bool):
            raise GraphError(f"presses in {path} must be an integer, got {presses!r}")
    return presses


def build_graph(given: Mapping[str, str] | None = None) -> list[NodeSpec]:
    """The nodes to start for these arguments (``name -> value`` strings, as on a command line)."""
    args = resolve_arguments(given or {})
    use_sim = parse_bool("use_sim", args["use_sim"])
    namespace = parse_namespace(args["namespace"])
    user_files: tuple[Path, ...] = ()
    if args["params_file"]:
        user_file = Path(args["params_file"]).expanduser()
        if not user_file.is_file():
            raise GraphError(f"params_file:={args['params_file']!r} does not exist; give the path of a "
                             "parameter YAML (keys /**: or node names)")
        user_files = (user_file.resolve(),)
    common: dict[str, str | bool | int | float] = {"use_sim_time": parse_bool("use_sim_time", args["use_sim_time"])}
    mount_offset(args)  # checked here, so a bad mount fails before anything starts
    scene = args["scene"] or str(config_file("scene_four_balls.yaml"))
    camera = NodeSpec(
        name="digit_camera_node",
        executable="digit_camera_node",
        parameter_files=(config_file("digit_camera.yaml"), *user_files),
        parameters={"source": "sim" if use_sim else "digit", "serial": args["digit_serial"], "scene_path": scene,
                    "frame_id": SENSOR_FRAME, **common},
        namespace=namespace,
    )
    arm = NodeSpec(
        name="ur_palpation_node",
        executable="ur_palpation_node",
        parameter_files=(config_file("ur_palpation.yaml"), *user_files),
        parameters={"arm": "sim" if use_sim else "ur_rtde", "robot_ip": args["robot_ip"], "scene": scene,
                    "tool_frame_id": TOOL_FRAME, **common},
        namespace=namespace,
    )
    # the classifier labels a cycle once the routine's presses are classified: one number, from the arm's files
    classifier_parameters: dict[str, str | bool | int | float] = {
        "trigger": args["trigger"], "presses_per_cycle": presses_per_cycle(arm.parameter_files, namespace), **common}
    if args["model"]:
        classifier_parameters["model_path"] = args["model"]
    classifier = NodeSpec(
        name="material_classifier_node",
        executable="material_classifier_node",
        parameter_files=(config_file("material_classifier.yaml"), *user_files),
        parameters=classifier_parameters,
        namespace=namespace,
    )
    hand_held = args["trigger"] == "contact" and not use_sim
    nodes = [camera, classifier] if hand_held else [camera, arm, classifier]
    if parse_bool("record", args["record"]):
        nodes.append(NodeSpec(
            name="palpation_recorder_node",
            executable="palpation_recorder_node",
            parameter_files=user_files,
            parameters={"bag_dir": args["bag_dir"], "scene": scene, "sensor_serial": args["digit_serial"], **common},
            namespace=namespace,
        ))
    return nodes


def helper_nodes(given: Mapping[str, str] | None = None) -> list[HelperNode]:
    """Nodes of other packages for these arguments: the sensor's static transform, and rviz2 if asked."""
    args = resolve_arguments(given or {})
    namespace = parse_namespace(args["namespace"])
    use_sim_time = parse_bool("use_sim_time", args["use_sim_time"])
    mount = mount_offset(args)
    transform = [word for axis, value in zip(MOUNT_AXES, mount, strict=True) for word in (f"--{axis}", repr(value))]
    helpers = [HelperNode(
        package="tf2_ros", executable="static_transform_publisher", name="digit_mount_publisher",
        arguments=(*transform, "--frame-id", TOOL_FRAME, "--child-frame-id", SENSOR_FRAME),
        namespace=namespace, parameters={"use_sim_time": use_sim_time})]
    if parse_bool("launch_rviz", args["launch_rviz"]):
        helpers.append(HelperNode(
            package="rviz2", executable="rviz2", name="rviz2",
            arguments=("-d", str(config_file("tactile_material.rviz"))),
            namespace=namespace, parameters={"use_sim_time": use_sim_time}))
    return helpers
