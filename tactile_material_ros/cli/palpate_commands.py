"""`tactile-material palpate`: one palpation cycle without ROS, for commissioning a cell.

    tactile-material palpate --arm sim --target rubber_ball --json
    tactile-material palpate --arm sim --target wood_ball --inject protective_stop@holding --json
    tactile-material palpate --arm ur_rtde --robot-ip 192.168.1.10 --target rubber_ball \
        --set target_force_n=5 --set max_force_n=10          # first dry run on a real cell

Prints one JSON object with --json (outcome, reason, states, presses, force_mode_stopped, ...);
exit code 0 when the cycle is done, 1 on a fault (including no connection), 2 on a usage error
(bad or unsafe YAML in a scene, a parameter file or --set, a float where an integer belongs, an
unknown name). Ctrl-C, SIGTERM and SIGHUP abort the cycle the same way: force mode stopped, the
tool lifted clear, the JSON printed with outcome fault. The simulated arm runs faster than real
time unless --real-time is given.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tactile_material_ros.graph import file_parameters
from tactile_material_ros.paths import config_file
from tactile_material_ros.robot.arm_port import ArmError, ArmPort, ArmSetupError
from tactile_material_ros.robot.cell import ARM_MODEL_CHOICES, TcpCheck, Workspace
from tactile_material_ros.robot.palpation import (
    FaultCode,
    PalpationConfig,
    PalpationListener,
    PalpationResult,
    PalpationRoutine,
)
from tactile_material_ros.sim.scene import SceneError, load_scene

log = logging.getLogger(__name__)

EXIT_DONE, EXIT_FAULT, EXIT_USAGE = 0, 1, 2
NODE_NAME = "ur_palpation_node"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "palpate",
        help="run one palpation cycle on the simulated UR10 or a real UR (ur_rtde) and report it",
        description="Run one palpation cycle (approach, press, hold, retract, rotate, press again, return) "
                    "and report states, presses and whether force mode was stopped, as read from the arm.",
    )
    parser.add_argument("--arm", choices=("sim", "ur_rtde"), required=True, help="simulated UR10 or a real UR over RTDE")
    parser.add_argument("--robot-ip", help="the robot's IP address (required with --arm ur_rtde)")
    parser.add_argument("--target", required=True, help="name of the scene object to palpate, e.g. rubber_ball")
    parser.add_argument("--inject", metavar="FAULT@STATE",
                        help="sim only: make FAULT happen when the routine enters STATE, e.g. protective_stop@holding")
    parser.add_argument("--scene", type=Path, help="scene YAML (default: the package's config/scene_four_balls.yaml)")
    parser.add_argument("--params", type=Path,
                        help="parameter file whose entries for ur_palpation_node (/**: or its name) set the routine "
                             "(default: the package's config/ur_palpation.yaml)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", dest="overrides",
                        help="override one routine parameter, e.g. --set target_force_n=5 (repeatable)")
    parser.add_argument("--real-time", action="store_true", help="sim: run the simulated clock at real time")
    parser.add_argument("--speed-slider", type=float, default=1.0, metavar="FRACTION",
                        help="sim: the simulated pendant's speed slider, (0, 1] (a real arm's is read from it)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")
    parser.set_defaults(func=run_palpate)


@dataclass(frozen=True)
class CellSettings:
    """The cell's parameters from the node's parameter file: what the arm must be and where it may go."""

    arm_model: str = "auto"
    tcp_check: TcpCheck = TcpCheck()
    box_min_m: tuple[float, float, float] = Workspace().box_min_m
    box_max_m: tuple[float, float, float] = Workspace().box_max_m

    def workspace(self, table_z_m: float) -> Workspace:
        return Workspace(self.box_min_m, self.box_max_m, table_z_m)


CELL_PARAMETERS = ("arm_model", "tcp_offset", "workspace_min_m", "workspace_max_m")


def _safe_yaml(text: str, where: str) -> Any:
    """Plain YAML only: a syntax error or a ``!!python`` tag is a usage error naming where it is."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{where}: not valid YAML (plain YAML only, no !!python tags): "
                         f"{' '.join(str(exc).split())}") from None


def _numbers(name: str, value: Any, count: int) -> tuple[float, ...]:
    if (not isinstance(value, list) or len(value) != count
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
        raise ValueError(f"{name} = {value!r} must be a list of {count} numbers")
    return tuple(float(v) for v in value)


def routine_settings(params_file: Path, overrides: list[str]) -> tuple[PalpationConfig, CellSettings]:
    """The routine's and the cell's parameters from the node's parameter file, then ``NAME=VALUE`` overrides."""
    with open(params_file) as f:
        raw = _safe_yaml(f.read(), str(params_file)) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{params_file}: expected a mapping with /**: ros__parameters: ... (or {NODE_NAME}:)")
    node_params = file_parameters(params_file, NODE_NAME)
    known = {name for name, *_ in PalpationConfig.describe()}
    values: dict[str, Any] = {k: v for k, v in node_params.items() if k in known}
    cell: dict[str, Any] = {k: v for k, v in node_params.items() if k in CELL_PARAMETERS}
    for item in overrides:
        name, sep, text = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: expected NAME=VALUE, e.g. --set target_force_n=5")
        name = name.strip()
        value = _safe_yaml(text, f"--set {item}")
        (cell if name in CELL_PARAMETERS else values)[name] = value
    config = PalpationConfig.from_mapping(values)
    settings = CellSettings(
        arm_model=str(cell.get("arm_model", "auto")),
        tcp_check=TcpCheck(_numbers("tcp_offset", cell["tcp_offset"], 6)) if "tcp_offset" in cell else TcpCheck(),
        box_min_m=_numbers("workspace_min_m", cell.get("workspace_min_m", list(Workspace().box_min_m)), 3),
        box_max_m=_numbers("workspace_max_m", cell.get("workspace_max_m", list(Workspace().box_max_m)), 3),
    )
    if settings.arm_model not in ARM_MODEL_CHOICES:
        raise ValueError(f"arm_model = {settings.arm_model!r} is not allowed: use one of {', '.join(ARM_MODEL_CHOICES)}")
    settings.workspace(0.0)          # validates the box
    return config, settings


def _build_arm(args: argparse.Namespace, scene: Any, cell: CellSettings, wall_watchdog_floor_s: float = 0.0) -> ArmPort:
    """The arm of ``--arm``; ``wall_watchdog_floor_s``: sim only, see ``SimArmConfig``."""
    if args.arm == "ur_rtde":
        from tactile_material_ros.robot.ur_rtde_arm import UrRtdeArm

        return UrRtdeArm(args.robot_ip, arm_model=cell.arm_model, tcp_check=cell.tcp_check)
    from tactile_material_ros.robot.sim_arm import SimArm, SimArmConfig

    return SimArm(scene, SimArmConfig(real_time_factor=1.0 if args.real_time else None,
                                      model="e_series" if cell.arm_model == "auto" else cell.arm_model,
                                      tcp_offset_m=cell.tcp_check.offset[2], speed_fraction=args.speed_slider,
                                      wall_watchdog_floor_s=wall_watchdog_floor_s))


class _Stop:
    """Ctrl-C, SIGTERM and SIGHUP: abort the running cycle (force mode off, lift clear); before it starts: skip it."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self.routine: PalpationRoutine | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Stop:
        for number in self.SIGNALS:
            self._previous[number] = signal.signal(number, self._on_signal)
        return self

    def __exit__(self, *exc: object) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def _on_signal(self, number: int, frame: object) -> None:
        self.signal_name = signal.Signals(number).name
        log.warning("%s: aborting the cycle (force mode off, lift clear)", self.signal_name)
        if self.routine is not None:
            self.routine.abort()


def run_palpate(args: argparse.Namespace) -> int:
    try:
        if args.arm == "ur_rtde" and not args.robot_ip:
            raise ValueError("--arm ur_rtde needs --robot-ip, the robot's address")
        if args.inject and args.arm != "sim":
            raise ValueError("--inject works with --arm sim only")
        if not 0.0 < args.speed_slider <= 1.0:
            raise ValueError(f"--speed-slider {args.speed_slider!r}: allowed (0, 1]")
        scene = load_scene(args.scene)
        target = scene.get(args.target)
        config, cell = routine_settings(args.params or config_file("ur_palpation.yaml"), args.overrides)
        injection = None
        if args.inject:
            from tactile_material_ros.robot.fault_injection import FaultInjection

            injection = FaultInjection.parse(args.inject)
    except (ValueError, KeyError, OSError, SceneError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"tactile-material palpate: {message}", file=sys.stderr)
        return EXIT_USAGE

    arm = _build_arm(args, scene, cell)
    listeners: list[PalpationListener] = []
    if injection is not None:
        from tactile_material_ros.robot.fault_injection import FaultInjector

        listeners.append(FaultInjector(arm, injection, target.name))  # type: ignore[arg-type]
    routine = PalpationRoutine(arm, config, listeners, cell.workspace(scene.table_z_m))

    result: PalpationResult | None = None
    with _Stop() as stop:
        try:
            arm.connect()
        except ArmError as exc:
            code = FaultCode.SETTINGS if isinstance(exc, ArmSetupError) else FaultCode.NO_CONNECTION
            report = {"outcome": "fault", "reason": f"{code.value}: {exc}", "states": [], "presses": [],
                      "force_mode_stopped": None, "target": target.name, "arm": arm.description}
            _print(report, args.json)
            return EXIT_FAULT
        try:
            stop.routine = routine
            if stop.signal_name is None:
                result = routine.palpate(target.top_m)
        finally:
            arm.disconnect()
    if result is None:
        report = {"outcome": "fault", "reason": f"{FaultCode.ABORTED.value}: {stop.signal_name} before the cycle "
                  "started; nothing moved", "states": [], "presses": [], "force_mode_stopped": None,
                  "target": target.name, "arm": arm.description}
        _print(report, args.json)
        return EXIT_FAULT
    report = {**result.to_dict(), "target": target.name, "arm": arm.description,
              "start_pose": _pose_list(result.start_pose), "end_pose": _pose_list(result.end_pose)}
    if stop.signal_name is not None:
        report["signal"] = stop.signal_name
    _print(report, args.json, result)
    return EXIT_DONE if result.outcome == "done" else EXIT_FAULT


def _pose_list(pose: Any) -> list[float] | None:
    return None if pose is None else [round(float(v), 6) for v in pose]


def _print(report: dict[str, Any], as_json: bool, result: PalpationResult | None = None) -> None:
    if as_json:
        print(json.dumps(report))
        return
    print(f"{report['target']} on {report['arm']}: {report['outcome']}"
          + (f" ({report['reason']})" if report["reason"] else ""))
    for i, press in enumerate(report["presses"], 1):
        print(f"  press {i}: {press['force_n']:.2f} N at {press['tool_angle_deg']:.1f} deg, "
              f"depth {press['depth_m'] * 1000:.2f} mm")
    if result is not None:
        print("  states: " + ", ".join(f"{s.state} {s.t:.2f} s" for s in result.states))
        print(f"  cycle: {result.duration_s:.2f} s on the arm's clock")
    stopped = report["force_mode_stopped"]
    print(f"  force mode stopped (read from the arm): {'unknown' if stopped is None else 'yes' if stopped else 'NO'}")
