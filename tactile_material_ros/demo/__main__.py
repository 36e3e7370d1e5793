"""`make demo`: the whole graph on the four-ball scene, simulated arm and sensor, bundled model.

    python -m tactile_material_ros.demo [--model PATH] [--scene PATH] [--out demo_report]

Starts the graph with bringup (its log goes to ``<out>/graph.log``) on a private ROS domain,
then the demo client (nodes/demo_client.py), which palpates every object through
``palpation/palpate``, prints the table and writes ``<out>/index.html`` and
``<out>/results.json``. Exits 0 only when every object got a material label.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from tactile_material_ros.inference.model_card import ModelCard, ModelIntegrityError, card_path_for
from tactile_material_ros.paths import config_file, model_file

log = logging.getLogger("demo")
POLL_S = 0.2
STOP_TIMEOUT_S = 25.0


def _model_note(model: Path) -> str:
    try:
        card = ModelCard.load(card_path_for(model))
    except ModelIntegrityError as exc:
        raise SystemExit(f"demo: {exc}") from None
    return model_note(model.name, card)


def model_note(name: str, card: ModelCard) -> str:
    """One sentence on the model: file, sha256, classes and, where the card says, its architecture."""
    architecture = card.extra.get("architecture")
    parts = [f"sha256 {card.sha256[:12]}…", f"{len(card.class_names)} classes"]
    if isinstance(architecture, dict):
        parts.append(f"ViT-{architecture.get('size', '?')} width {architecture.get('hidden_size', '?')}, "
                     f"{architecture.get('layers', '?')} blocks, {architecture.get('image_size', '?')} px, "
                     f"patch {architecture.get('patch_size', '?')}, "
                     f"{architecture.get('parameters', 0) / 1e6:.1f} M parameters")
    elif isinstance(architecture, str) and architecture:
        parts.append(architecture)
    return f"Model {name} ({', '.join(parts)})."


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.is_file() else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tactile_material_ros.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=model_file(), help="ONNX model with its card (default: bundled)")
    parser.add_argument("--scene", type=Path, default=config_file("scene_four_balls.yaml"), help="scene YAML")
    parser.add_argument("--out", type=Path, default=Path("demo_report"), help="report folder")
    parser.add_argument("--timeout", type=float, default=480.0, help="seconds the whole demo may take")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[demo] %(message)s")
    if not args.model.is_file():
        log.error("model %s not found: the bundled model is models/tactile_vit.onnx (see docs/training.md to "
                  "make one), or pass --model", args.model)
        return 2
    note = _model_note(args.model)
    args.out.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.setdefault("ROS_DOMAIN_ID", str(random.randint(1, 100)))  # a private graph unless the user picked one
    graph_log = args.out / "graph.log"
    started = time.monotonic()
    log.info("starting the graph (ROS_DOMAIN_ID %s, log %s); %s", env["ROS_DOMAIN_ID"], graph_log, note)
    with open(graph_log, "w") as graph_out:
        bringup = subprocess.Popen(
            [sys.executable, "-m", "tactile_material_ros.bringup", "use_sim:=true", "trigger:=press",
             f"model:={args.model.resolve()}", f"scene:={args.scene.resolve()}"],
            env=env, stdout=graph_out, stderr=subprocess.STDOUT)
        client = None
        try:
            client = subprocess.Popen(
                [sys.executable, "-m", "tactile_material_ros.nodes.demo_client", "--out", str(args.out),
                 "--scene", str(args.scene.resolve()), "--model-note", note, "--model", str(args.model.resolve())],
                env=env)
            while client.poll() is None:
                if bringup.poll() is not None:
                    log.error("the graph stopped (bringup exit code %s); last lines of %s:\n%s",
                              bringup.returncode, graph_log, _tail(graph_log))
                    return 1
                if time.monotonic() - started > args.timeout:
                    log.error("the demo took longer than %.0f s; see %s", args.timeout, graph_log)
                    return 1
                time.sleep(POLL_S)
            code = client.returncode
        finally:
            if client is not None:
                _stop(client)
            _stop(bringup)
    log.info("done in %.0f s (exit %d)", time.monotonic() - started, code)
    return code


if __name__ == "__main__":
    sys.exit(main())
