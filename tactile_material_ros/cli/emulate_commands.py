"""`tactile-material emulate-ur`: a UR controller emulator that the real ur_rtde library connects to.

    tactile-material emulate-ur --host 127.0.0.2 --model e-series
    tactile-material palpate --arm ur_rtde --robot-ip 127.0.0.2 --target rubber_ball --json   # another shell

Serves RTDE (30004), the script ports (30003, 30002) and the dashboard (29999) on one loopback address,
backed by the simulated UR10 and the scene (robot/ur_emulator). Runs until Ctrl-C / SIGTERM, or for
--duration seconds. Exit code 0 on a clean stop, 1 when a client sent something the emulator refused
(an unknown command id, an unsupported control script), 2 on a usage error (the address, a port in use).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from tactile_material_ros.sim.scene import SceneError, load_scene

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "emulate-ur",
        help="emulate a UR controller (RTDE, script and dashboard ports) on a loopback address for ur_rtde",
        description="Emulate a UR10's controller for the real ur_rtde library: RTDE on 30004, ur_rtde's control "
                    "script on 30003, the dashboard on 29999, backed by the simulated UR10 and a scene.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to serve on (127.x.y.z); one per "
                        "emulator, e.g. 127.0.0.2, so that several run side by side")
    parser.add_argument("--model", choices=("e-series", "cb3"), default="e-series",
                        help="controller generation: e-series (5.x, 500 Hz) or cb3 (3.x, 125 Hz)")
    parser.add_argument("--scene", type=Path, help="scene YAML (default: the package's config/scene_four_balls.yaml)")
    parser.add_argument("--script-start-delay", type=float, default=0.3, metavar="S",
                        help="seconds from receiving ur_rtde's control script to its running")
    parser.add_argument("--speed-slider", type=float, default=1.0, metavar="FRACTION",
                        help="the emulated pendant's speed slider, (0, 1]")
    parser.add_argument("--tcp-offset-z", type=float, default=0.06, metavar="M",
                        help="the TCP offset set on the emulated controller, along flange Z [m]")
    parser.add_argument("--local-control", action="store_true",
                        help="e-Series: answer 'is in remote control' with false, as a robot in Local mode does")
    parser.add_argument("--duration", type=float, metavar="S", help="stop after this many seconds")
    parser.set_defaults(func=run_emulate)


def run_emulate(args: argparse.Namespace) -> int:
    from tactile_material_ros.robot.ur_emulator import UrEmulator

    try:
        if not 0.0 < args.speed_slider <= 1.0:
            raise ValueError(f"--speed-slider {args.speed_slider!r}: allowed (0, 1]")
        if not args.script_start_delay >= 0.0:
            raise ValueError(f"--script-start-delay {args.script_start_delay!r} must be >= 0")
        scene = load_scene(args.scene)
        emulator = UrEmulator(scene, args.host, args.model.replace("-", "_"),
                              script_start_delay_s=args.script_start_delay, speed_fraction=args.speed_slider,
                              tcp_offset_m=args.tcp_offset_z, remote_control=not args.local_control)
        emulator.start()
    except (ValueError, OSError, SceneError) as exc:
        print(f"tactile-material emulate-ur: {exc}", file=sys.stderr)
        return 2
    done = threading.Event()

    def on_signal(number: int, frame: Any) -> None:
        log.info("%s: stopping the emulator", signal.Signals(number).name)
        done.set()

    previous = {n: signal.signal(n, on_signal) for n in (signal.SIGINT, signal.SIGTERM)}
    print(f"UR emulator ({args.model}, controller {emulator.controller.version.text}) on {args.host}: "
          f"tactile-material palpate --arm ur_rtde --robot-ip {args.host} ...", flush=True)
    try:
        done.wait(args.duration)
    finally:
        emulator.stop()
        for number, handler in previous.items():
            signal.signal(number, handler)
    errors = emulator.controller.errors
    for error in errors:
        print(f"refused: {error}", file=sys.stderr)
    return 1 if errors else 0
