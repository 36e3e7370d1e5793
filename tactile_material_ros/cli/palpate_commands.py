"""`tactile-material palpate`: one palpation cycle without ROS, for commissioning a cell.

    tactile-material palpate --arm sim --target rubber_ball --json
    tactile-material palpate --arm sim --target wood_ball --inject protective_stop@holding --json
    tactile-material palpate --arm ur_rtde --robot-ip 192.168.1.10 --target rubber_ball \
        --set target_force_n=5 --set max_force_n=10          # first dry run on a real cell

Prints one JSON object with --json (outcome, reason, states, presses, force_mode_stopped, ...);
exit code 0 when the cycle is done, 1 on a fault (including no connection), 2 on a usage error.
The simulated arm runs faster than real time unless --real-time is given.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import yaml

from tactile_material_ros.paths import config_file
from tactile_material_ros.robot.arm_port import ArmError, ArmPort
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
                        help="parameter file whose ur_palpation_node ros__parameters set the routine "
                             "(default: the package's config/ur_palpation.yaml)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", dest="overrides",
                        help="override one routine parameter, e.g. --set target_force_n=5 (repeatable)")
    parser.add_argument("--real-time", action="store_true", help="sim: run the simulated clock at real time")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a summary")
    parser.set_defaults(func=run_palpate)


def routine_settings(params_file: Path, overrides: list[str]) -> PalpationConfig:
    """The routine's parameters from the node's parameter file, then ``NAME=VALUE`` overrides."""
    with open(params_file) as f:
        raw = yaml.safe_load(f) or {}
    node_params = (raw.get(NODE_NAME) or raw.get(f"/{NODE_NAME}") or {}).get("ros__parameters", {})
    known = {name for name, *_ in PalpationConfig.describe()}
    values: dict[str, Any] = {k: v for k, v in node_params.items() if k in known}
    for item in overrides:
        name, sep, text = item.partition("=")
        if not sep:
            raise ValueError(f"--set {item!r}: expected NAME=VALUE, e.g. --set target_force_n=5")
        values[name.strip()] = yaml.safe_load(text)
    return PalpationConfig.from_mapping(values)


def _build_arm(args: argparse.Namespace, scene: Any) -> ArmPort:
    if args.arm == "ur_rtde":
        from tactile_material_ros.robot.ur_rtde_arm import UrRtdeArm

        return UrRtdeArm(args.robot_ip)
    from tactile_material_ros.robot.sim_arm import SimArm, SimArmConfig

    return SimArm(scene, SimArmConfig(real_time_factor=1.0 if args.real_time else None))


def run_palpate(args: argparse.Namespace) -> int:
    try:
        if args.arm == "ur_rtde" and not args.robot_ip:
            raise ValueError("--arm ur_rtde needs --robot-ip, the robot's address")
        if args.inject and args.arm != "sim":
            raise ValueError("--inject works with --arm sim only")
        scene = load_scene(args.scene)
        target = scene.get(args.target)
        config = routine_settings(args.params or config_file("ur_palpation.yaml"), args.overrides)
    except (ValueError, KeyError, OSError, SceneError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"tactile-material palpate: {message}", file=sys.stderr)
        return EXIT_USAGE

    arm = _build_arm(args, scene)
    listeners: list[PalpationListener] = []
    if args.inject:
        from tactile_material_ros.robot.fault_injection import FaultInjection, FaultInjector

        try:
            injection = FaultInjection.parse(args.inject)
        except ValueError as exc:
            print(f"tactile-material palpate: {exc}", file=sys.stderr)
            return EXIT_USAGE
        listeners.append(FaultInjector(arm, injection, target.name))  # type: ignore[arg-type]
    routine = PalpationRoutine(arm, config, listeners)

    try:
        arm.connect()
    except ArmError as exc:
        report = {"outcome": "fault", "reason": f"{FaultCode.NO_CONNECTION.value}: {exc}", "states": [], "presses": [],
                  "force_mode_stopped": None, "target": target.name, "arm": arm.description}
        _print(report, args.json)
        return EXIT_FAULT

    previous = signal.signal(signal.SIGINT, lambda *_: routine.abort())   # Ctrl-C: abort cleanly, lift clear
    try:
        result = routine.palpate(target.top_m)
    finally:
        signal.signal(signal.SIGINT, previous)
        arm.disconnect()
    report = {**result.to_dict(), "target": target.name, "arm": arm.description}
    _print(report, args.json, result)
    return EXIT_DONE if result.outcome == "done" else EXIT_FAULT


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
