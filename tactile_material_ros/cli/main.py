"""Entry point of `tactile-material`.

Each command group lives in its own module under ``cli/`` and exposes
``register(subparsers)``, which adds its sub-commands with ``set_defaults(func=...)``;
``func(args)`` returns the process exit code. Modules are imported and registered on
start so that a missing optional dependency (torch for the learning commands, which the
runtime requirements leave out) only takes away its own commands; ``--help`` says which
and what to install.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

# module name under tactile_material_ros.cli -> what its commands need beyond the core
COMMAND_MODULES: dict[str, str] = {
    "render_commands": "numpy, opencv",
    "palpate_commands": "numpy (ur_rtde for --arm ur_rtde)",
    "learning_commands": "torch, transformers, accelerate, onnx (pip install -r requirements-train.txt)",
    "inference_commands": "onnxruntime",
    "emulate_commands": "numpy (ur_rtde for its clients)",
    "recording_commands": "numpy, rosbags (torch for dataset and teach)",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tactile-material",
        description="Simulate, train, export and run tactile material recognition (no ROS needed).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    missing = []
    for name, needs in COMMAND_MODULES.items():
        try:  # register() imports what its commands need: a missing package fails here, for this group only
            importlib.import_module(f"tactile_material_ros.cli.{name}").register(sub)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.startswith("tactile_material_ros"):
                continue  # command group not built yet
            missing.append(f"{name.removesuffix('_commands')} commands ({exc.name} is not installed; they need {needs})")
    if missing:
        parser.epilog = "not available here: " + "; ".join(missing)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
