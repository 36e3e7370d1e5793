"""A run directory: resolved config, seeds, provenance, per-epoch metrics, checkpoints, model.

    RUN/config.json        the resolved configuration (what to compare on resume)
    RUN/provenance.json    command line, git commit, data, seeds, time
    RUN/metrics.jsonl      one JSON line per epoch
    RUN/metrics.json       the final metrics
    RUN/checkpoints/epoch_NNN/   Accelerate state (model, optimiser, scheduler, RNG); the last two kept
    RUN/model/             the trained student (student.json + model.safetensors)

Running a command again on the same directory resumes from its last checkpoint if the
configuration is the same (only ``epochs`` may grow); a different configuration is refused.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tactile_material_ros import paths

IGNORED_ON_RESUME = ("epochs",)


class RunConflictError(ValueError):
    """The run directory holds a run with another configuration."""


def git_commit() -> dict[str, Any]:
    """Commit of the source tree the package runs from, and whether it had local changes."""
    root = Path(paths.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
        return {"commit": commit, "dirty": bool(dirty)}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def _differences(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b)):
            if key in IGNORED_ON_RESUME:
                continue
            out += _differences(a.get(key), b.get(key), f"{prefix}{key}.")
        return out
    return [] if a == b else [f"{prefix[:-1]}: {a!r} -> {b!r}"]


class RunDir:
    def __init__(self, path: str | Path, is_main: bool = True) -> None:
        self.path = Path(path)
        self.is_main = is_main

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def model_dir(self) -> Path:
        return self.path / "model"

    def start(self, command: str, config: dict[str, Any], seeds: dict[str, int], data: dict[str, Any]) -> None:
        """Create the run or check that an existing one has the same configuration (then it resumes)."""
        saved = self.path / "config.json"
        resolved = {"command": command, **config}
        if saved.is_file():
            diff = _differences(json.loads(saved.read_text()), json.loads(json.dumps(resolved, default=str)))
            if diff:
                raise RunConflictError(
                    f"{self.path} holds a {command} run with another configuration ({'; '.join(diff)}); "
                    "use a new --out directory, or delete this one to start over")
        if not self.is_main:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        self.write_json("config.json", resolved)
        self.write_json("provenance.json", {
            "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]), "git": git_commit(), "seeds": seeds,
            "data": data, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        })

    def write_json(self, name: str, payload: Any) -> None:
        if self.is_main:
            (self.path / name).write_text(json.dumps(payload, indent=2, default=str) + "\n")

    def read_json(self, name: str) -> Any:
        return json.loads((self.path / name).read_text())

    def log_epoch(self, record: dict[str, Any]) -> None:
        if self.is_main:
            with open(self.path / "metrics.jsonl", "a") as f:
                f.write(json.dumps(record, default=str) + "\n")

    def last_checkpoint(self) -> tuple[int, Path] | None:
        """(epoch, folder) of the newest complete checkpoint."""
        done = sorted(p for p in self.checkpoints.glob("epoch_*") if (p / "DONE").is_file())
        return (int(done[-1].name.split("_")[1]), done[-1]) if done else None

    def checkpoint_dir(self, epoch: int) -> Path:
        return self.checkpoints / f"epoch_{epoch:03d}"

    def mark_checkpoint(self, epoch: int, keep: int = 2) -> None:
        """Mark ``epoch``'s checkpoint complete and delete all but the newest ``keep``."""
        if not self.is_main:
            return
        (self.checkpoint_dir(epoch) / "DONE").write_text("")
        done = sorted(p for p in self.checkpoints.glob("epoch_*") if (p / "DONE").is_file())
        for old in done[:-keep]:
            shutil.rmtree(old, ignore_errors=True)


# keys of a model card whose strings are paths or command lines (never the familiarity's base64 arrays)
PORTABLE_KEYS = ("provenance", "metrics")


def portable_paths(value: Any, base: Path) -> Any:
    """``value`` with every absolute path made relative to ``base`` (the directory the command ran in), or
    cut to its name where it lies more than one level above ``base``; command lines are treated word by
    word. What a model card records so carries no machine's paths and still names each run and data set."""
    if isinstance(value, dict):
        return {key: portable_paths(item, base) for key, item in value.items()}
    if isinstance(value, list):
        return [portable_paths(item, base) for item in value]
    if isinstance(value, str) and "/" in value:
        return " ".join(_portable_word(word, base) for word in value.split(" "))
    return value


def _portable_word(word: str, base: Path) -> str:
    if not os.path.isabs(word):
        return word
    relative = os.path.relpath(word, base)
    return Path(word).name if relative.startswith(os.path.join(os.pardir, os.pardir)) else relative
