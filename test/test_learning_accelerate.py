"""Scaling past one process: `accelerate launch` with two CPU processes (gloo) trains the same
model as one process does (same global batches, gradients averaged)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from learning_fixtures import write_pattern_dataset
from safetensors.torch import load_file

from tactile_material_ros.cli.main import main

ACCELERATE = Path(sys.executable).parent / "accelerate"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_two_gloo_processes_train_the_same_model_as_one(tmp_path: Path) -> None:
    data = write_pattern_dataset(tmp_path / "data", per_class=8, sensors=2)
    args = ["distill", str(data), "--size", "micro", "--image-size", "32", "--patch-size", "8", "--batch-size", "8",
            "--epochs", "2", "--val-fraction", "0.25", "--method", "feature", "--cache-dir", str(tmp_path / "cache")]
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    # on a machine without GPUs, --multi_gpu starts torchrun workers that fall back to gloo on CPU
    launch = [str(ACCELERATE), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
              "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_ip", "127.0.0.1",
              "--main_process_port", str(_free_port()), "-m", "tactile_material_ros.cli.main"]
    result = subprocess.run([*launch, *args, "--out", str(tmp_path / "two")], env=env, capture_output=True, text=True,
                            timeout=200)
    assert result.returncode == 0, result.stderr[-3000:]
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert (one["processes"], two["processes"]) == (1, 2)
    w1 = load_file(str(tmp_path / "one" / "model" / "model.safetensors"))
    w2 = load_file(str(tmp_path / "two" / "model" / "model.safetensors"))
    assert set(w1) == set(w2) and any(k.startswith("projection") for k in w1)
    worst = max(float((w1[k] - w2[k]).abs().max()) for k in w1)
    assert worst < 1e-4, f"weights differ by up to {worst:.2e}"
    epochs = [[json.loads(line) for line in (tmp_path / run / "metrics.jsonl").read_text().splitlines()]
              for run in ("one", "two")]
    for a, b in zip(*epochs, strict=True):
        assert a["val_accuracy"] == b["val_accuracy"] and a["train_accuracy"] == b["train_accuracy"]
        assert abs(a["val_loss"] - b["val_loss"]) < 1e-4 and abs(a["train_loss"] - b["train_loss"]) < 1e-4
