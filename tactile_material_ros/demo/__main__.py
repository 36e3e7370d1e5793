"""`make demo`: teach the four balls by touch, then classify them with the taught model, in the whole graph.

    python -m tactile_material_ros.demo [--teach 3] [--model PATH] [--scene PATH] [--out demo_report]

Starts the graph with bringup (its log goes to ``<out>/graph.log``) on a private ROS domain,
with the bundled model (or ``--model``). Meanwhile ``tactile-material teach`` palpates every
object of the scene ``--teach`` times on its own simulated cell, records the cycles, builds the
data set and enrols the taught model ``<out>/taught.onnx`` (log: ``<out>/teach.log``; bag and
data set under ``<out>/teach/``). Then the demo client (nodes/demo_client.py) loads the taught
model into the running classifier (no restart), palpates every object through
``palpation/palpate``, prints the table and writes ``<out>/index.html`` and ``<out>/results.json``.
``--teach 0`` skips teaching and classifies with the graph's model. Exits 0 only when every
object got a material label.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import shutil
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


def _start_teaching(args: argparse.Namespace, taught: Path, env: dict[str, str]) -> subprocess.Popen:
    """`tactile-material teach` on its own simulated cell; a re-run starts afresh."""
    work = args.out / "teach"
    shutil.rmtree(work, ignore_errors=True)
    for old in (taught, taught.with_suffix(".json")):
        old.unlink(missing_ok=True)
    log.info("teaching: %d palpation(s) of every object, then enrol (log %s)", args.teach, args.out / "teach.log")
    with open(args.out / "teach.log", "w") as teach_out:
        return subprocess.Popen(
            [sys.executable, "-m", "tactile_material_ros.cli.main", "teach", "--arm", "sim", "--presses",
             str(args.teach), "--scene", str(args.scene.resolve()), "--base", str(args.model.resolve()),
             "--out", str(taught), "--work", str(work)], env=env, stdout=teach_out, stderr=subprocess.STDOUT)


def _watch(proc: subprocess.Popen, bringup: subprocess.Popen, what: str, log_path: Path, started: float,
           timeout_s: float, graph_log: Path) -> bool:
    """Wait for ``proc`` to end while the graph runs and the demo's time lasts; False (logged why) when not."""
    while proc.poll() is None:
        if bringup.poll() is not None:
            log.error("the graph stopped (bringup exit code %s); last lines of %s:\n%s",
                      bringup.returncode, graph_log, _tail(graph_log))
            return False
        if time.monotonic() - started > timeout_s:
            log.error("%s took longer than %.0f s; see %s", what, timeout_s, log_path)
            return False
        time.sleep(POLL_S)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tactile_material_ros.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=model_file(), help="ONNX model with its card (default: bundled)")
    parser.add_argument("--scene", type=Path, default=config_file("scene_four_balls.yaml"), help="scene YAML")
    parser.add_argument("--out", type=Path, default=Path("demo_report"), help="report folder")
    parser.add_argument("--timeout", type=float, default=480.0, help="seconds the whole demo may take")
    parser.add_argument("--teach", type=int, default=3, metavar="N",
                        help="palpation cycles per object to teach the scene's objects first (0: no teaching)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="[demo] %(message)s")
    if not args.model.is_file():
        log.error("model %s not found: the bundled model is models/tactile_vit.onnx (see docs/training.md to "
                  "make one), or pass --model", args.model)
        return 2
    note = _model_note(args.model)
    args.out.mkdir(parents=True, exist_ok=True)
    taught = args.out / "taught.onnx"
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
        client = teacher = None
        try:
            client_args = ["--model", str(args.model.resolve())]
            if args.teach > 0:
                teacher = _start_teaching(args, taught, env)
                teach_log = args.out / "teach.log"
                if not _watch(teacher, bringup, "teaching", teach_log, started, args.timeout, graph_log):
                    return 1
                if teacher.returncode != 0:
                    log.error("teaching failed (exit code %d); last lines of %s:\n%s", teacher.returncode, teach_log,
                              _tail(teach_log))
                    return 1
                log.info("taught in %.0f s: %s", time.monotonic() - started, _tail(teach_log, 1))
                note = "Taught by touch: " + _model_note(taught)
                client_args = ["--load-model", str(taught.resolve())]
            client = subprocess.Popen(
                [sys.executable, "-m", "tactile_material_ros.nodes.demo_client", "--out", str(args.out),
                 "--scene", str(args.scene.resolve()), "--model-note", note, *client_args],
                env=env)
            if not _watch(client, bringup, "the demo", graph_log, started, args.timeout, graph_log):
                return 1
            code = client.returncode
        finally:
            for proc in (teacher, client):
                if proc is not None:
                    _stop(proc)
            _stop(bringup)
    log.info("done in %.0f s (exit %d)", time.monotonic() - started, code)
    return code


if __name__ == "__main__":
    sys.exit(main())
