"""Teach by touch, without ROS: `tactile-material record`, `dataset` and `teach`.

    tactile-material record --arm sim --cycles 2 --out bags/session1          # every object of the scene
    tactile-material record --arm ur_rtde --robot-ip 192.168.1.10 --digit-serial D20001 \
        --targets sponge --label foam --cycles 5 --out bags/foam
    tactile-material dataset bags/session1 bags/foam --out data/taught
    tactile-material teach --scene config/scene_four_balls.yaml --presses 5 --arm sim --out taught.onnx

``record`` runs palpation cycles as ``palpate`` does (same routine, parameter file and
``--set`` overrides) and writes them to a rosbag2 MCAP bag, the format the graph's recorder node
(``record:=true``) writes. ``dataset`` turns bags into a TVL CSV data set. ``teach`` chains
record, dataset and ``enrol`` and writes the taught model with its card. Exit codes: 0 done, 1 a
palpation fault, 2 a usage or data error (the message names the fix).
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tactile_material_ros.cli.palpate_commands import _build_arm, routine_settings
from tactile_material_ros.paths import config_file
from tactile_material_ros.robot.sim_arm import SHARED_PROCESS_WALL_WATCHDOG_FLOOR_S

log = logging.getLogger(__name__)

EXIT_DONE, EXIT_FAULT, EXIT_USAGE = 0, 1, 2


def _add_cell_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arm", choices=("sim", "ur_rtde"), default="sim", help="simulated UR10 (default) or a "
                        "real UR over RTDE")
    parser.add_argument("--robot-ip", help="the robot's IP address (required with --arm ur_rtde)")
    parser.add_argument("--digit-serial", default="", help="the DIGIT's serial (required with --arm ur_rtde; "
                        "written into every cycle)")
    parser.add_argument("--scene", type=Path, help="scene YAML: the objects, their places and materials "
                        "(default: the package's config/scene_four_balls.yaml)")
    parser.add_argument("--targets", default="", help="comma-separated scene objects to palpate (default: all)")
    parser.add_argument("--params", type=Path, help="parameter file whose ur_palpation_node ros__parameters set "
                        "the routine (default: the package's config/ur_palpation.yaml)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", dest="overrides",
                        help="override one routine parameter, e.g. --set target_force_n=5 (repeatable)")
    parser.add_argument("--fps", type=int, default=30, choices=(30, 60), help="camera frame rate (DIGIT "
                        "streams: 60 or 30 at QVGA)")
    parser.add_argument("--real-time", action="store_true", help="sim: run the simulated clock at real time")
    parser.add_argument("--speed-slider", type=float, default=1.0, metavar="FRACTION",
                        help="sim: the simulated pendant's speed slider, (0, 1]")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("record", help="palpate objects on the cell and record every cycle to a rosbag2 "
                              "MCAP bag (frames of the hold windows, reference, wrench, pose, states, label)")
    _add_cell_arguments(p)
    p.add_argument("--cycles", type=int, default=1, help="palpation cycles per target (each makes the routine's "
                   "presses, 2 by default)")
    p.add_argument("--label", default="", help="class of every pressed object (default: the scene's material of "
                   "each)")
    p.add_argument("--out", type=Path, required=True, help="the bag to write (a new folder)")
    p.set_defaults(func=run_record)

    p = subparsers.add_parser("dataset", help="recorded bags -> a TVL CSV data set (tvl.csv, PNGs, dataset.json)")
    p.add_argument("bags", nargs="+", metavar="BAG", help="bags written by `record` or the recorder node")
    p.add_argument("--out", type=Path, required=True, help="folder for tvl.csv, tactile/, background/, dataset.json")
    p.add_argument("--frames-per-press", type=int, default=1, help="frames taken from each hold window, evenly "
                   "spaced (1: the middle one)")
    p.add_argument("--label", default="", help="replace every cycle's label with this class")
    p.add_argument("--seed", type=int, default=0, help="seed of the captions drawn for known materials")
    p.set_defaults(func=run_dataset)

    p = subparsers.add_parser("teach", help="palpate every object of a scene N times, record, build the data set, "
                              "enrol, and write the taught model")
    _add_cell_arguments(p)
    p.add_argument("--presses", type=int, default=5, help="palpation cycles per object (each makes the routine's "
                   "presses, 2 by default)")
    p.add_argument("--out", type=Path, required=True, help="the taught model (.onnx; its card is written beside it)")
    p.add_argument("--base", default="", help="model whose encoder enrol builds on (default: the bundled model)")
    p.add_argument("--work", type=Path, help="folder for the bag and the data set (default: <out>_teach/ beside "
                   "the model)")
    p.add_argument("--frames-per-press", type=int, default=1, help="frames of each hold window in the data set")
    p.set_defaults(func=run_teach)


# -- record ------------------------------------------------------------------------------------------
def _record(args: argparse.Namespace, bag: Path, cycles: int) -> int:
    """Palpate and record into ``bag``; the exit code."""
    from tactile_material_ros.recording.cell_recording import RecordingFeed, record_session
    from tactile_material_ros.recording.cycle_recorder import CycleRecorder, RecorderConfig
    from tactile_material_ros.recording.palpation_bag import BagError, PalpationBagWriter
    from tactile_material_ros.robot.arm_port import ArmError
    from tactile_material_ros.robot.palpation import PalpationRoutine
    from tactile_material_ros.sim.scene import SceneError, load_scene

    try:
        if args.arm == "ur_rtde" and not (args.robot_ip and args.digit_serial):
            raise ValueError("--arm ur_rtde needs --robot-ip (the robot's address) and --digit-serial (the DIGIT "
                             "on its tool)")
        if cycles < 1:
            raise ValueError(f"{cycles} cycles per target: give at least 1")
        if not 0.0 < args.speed_slider <= 1.0:
            raise ValueError(f"--speed-slider {args.speed_slider!r}: allowed (0, 1]")
        scene = load_scene(args.scene)
        targets = [t.strip() for t in args.targets.split(",") if t.strip()] or scene.names
        for name in targets:
            scene.get(name)
        config, cell = routine_settings(args.params or config_file("ur_palpation.yaml"), args.overrides)
        label = getattr(args, "label", "")   # teach labels by the scene's materials
        recorder = CycleRecorder(RecorderConfig(label=label, sensor_serial=args.digit_serial), scene)
        writer = PalpationBagWriter(bag)
    except (ValueError, KeyError, OSError, SceneError, BagError) as exc:
        log.error("%s", exc.args[0] if isinstance(exc, KeyError) and exc.args else exc)
        return EXIT_USAGE
    arm = _build_arm(args, scene, cell, SHARED_PROCESS_WALL_WATCHDOG_FLOOR_S)
    camera, capture = _camera(args, scene)
    if args.arm == "sim" and not args.real_time:
        epoch = time.time()
        stamp: Callable[[float], float] = lambda t: epoch + t  # noqa: E731  the simulated clock, from now
    else:
        def stamp(t: float) -> float:  # the arm's instant on the wall clock, as the node stamps it
            return time.time() - max(0.0, arm.now() - t)
    feed = RecordingFeed(recorder, writer, stamp, sim_camera=camera, fps=args.fps)
    try:
        arm.connect()
        if capture is not None:
            capture.on_frame = lambda frame, t: recorder.on_frame(t, frame)
            capture.start()
        routine = PalpationRoutine(arm, config, (), cell.workspace(scene.table_z_m))
        report = record_session(routine, scene, targets, cycles, feed)
    except ArmError as exc:
        log.error("the arm: %s", exc)
        return EXIT_FAULT
    except (BagError, OSError) as exc:
        log.error("recording to %s failed: %s", bag, exc)
        return EXIT_FAULT
    finally:
        if capture is not None:
            capture.stop()
        arm.disconnect()
        try:
            feed.close()
        finally:
            writer.close()
    frames = sum(int(c["frames"]) for c in report.cycles)  # type: ignore[call-overload]
    log.info("recorded %d cycle(s), %d frames, to %s", len(report.cycles), frames, bag)
    return EXIT_FAULT if report.faults else EXIT_DONE


def _camera(args: argparse.Namespace, scene: Any) -> tuple[Any, Any]:
    """(simulated DIGIT rendered in step with the arm, None) on the simulated cell; (None, capture loop) else."""
    from tactile_material_ros.sensing.camera_config import CameraConfig, make_source

    if args.arm == "sim":
        source = make_source(CameraConfig(source="sim", fps=args.fps, scene_path=str(args.scene or "")))
        source.open()
        return source, None
    from tactile_material_ros.sensing.capture_loop import CaptureLoop

    config = CameraConfig(source="digit", serial=args.digit_serial, fps=args.fps)
    return None, CaptureLoop(make_source(config), lambda frame, t: None, config.rate_hz)


def run_record(args: argparse.Namespace) -> int:
    return _record(args, args.out, args.cycles)


# -- dataset -----------------------------------------------------------------------------------------
def _dataset(bags: list[str], out: Path, frames_per_press: int, label: str = "", seed: int = 0) -> Path | None:
    from tactile_material_ros.learning.datasets import DatasetError
    from tactile_material_ros.recording.bag_dataset import BagDatasetConfig, build_dataset
    from tactile_material_ros.recording.palpation_bag import BagError

    try:
        return build_dataset(BagDatasetConfig(tuple(bags), str(out), frames_per_press, label, seed))
    except (DatasetError, BagError) as exc:
        log.error("%s", exc)
        return None


def run_dataset(args: argparse.Namespace) -> int:
    return EXIT_DONE if _dataset(args.bags, args.out, args.frames_per_press, args.label, args.seed) else EXIT_USAGE


# -- teach -------------------------------------------------------------------------------------------
def run_teach(args: argparse.Namespace) -> int:
    try:
        from tactile_material_ros.learning.enrol import EnrolConfig, EnrolError, enrol
    except ImportError as exc:
        log.error("teach needs `enrol` (tactile_material_ros.learning.enrol), which this installation lacks: %s",
                  exc)
        return EXIT_USAGE
    if args.out.suffix != ".onnx":
        log.error("--out %s: give the model's path ending in .onnx (its card is written beside it)", args.out)
        return EXIT_USAGE
    work = args.work or args.out.with_name(f"{args.out.stem}_teach")
    bag, data = work / "bag", work / "dataset"
    for path in (bag, data):
        if path.exists():
            log.error("%s exists already: remove it or give another --work folder", path)
            return EXIT_USAGE
    started = time.monotonic()
    code = _record(args, bag, args.presses)
    if code != EXIT_DONE:
        return code
    csv_path = _dataset([str(bag)], data, args.frames_per_press)
    if csv_path is None:
        return EXIT_USAGE
    try:
        card = enrol(EnrolConfig(data=str(csv_path), out=str(args.out), base=args.base), progress=True)
    except (EnrolError, ValueError) as exc:
        log.error("enrol: %s", exc)
        return EXIT_USAGE
    classes = card.get("class_names", []) if isinstance(card, dict) else []
    log.info("taught %s in %.0f s: %s (bag %s, data set %s). Load it into a running classifier with "
             "`ros2 param set /material_classifier_node model_path %s`", args.out, time.monotonic() - started,
             ", ".join(classes), bag, csv_path, args.out.resolve())
    return EXIT_DONE
