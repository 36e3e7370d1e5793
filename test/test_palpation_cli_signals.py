"""`tactile-material palpate` as a process: SIGTERM / SIGHUP abort like Ctrl-C; YAML and number usage errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tactile_material_ros.cli.main import main
from tactile_material_ros.robot.palpation import PalpationConfig
from tactile_material_ros.sim.scene import load_scene

CLI = [sys.executable, "-m", "tactile_material_ros.cli.main", "-v", "palpate"]


def _wait_for_line(stream: object, needle: str, timeout_s: float) -> list[str]:
    """Read ``stream`` until a line containing ``needle`` (in a thread, so the wait has a timeout)."""
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        for line in stream:  # type: ignore[attr-defined]
            lines.append(line)
            if needle in line:
                found.set()
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert found.wait(timeout_s), f"no {needle!r} within {timeout_s} s:\n{''.join(lines)}"
    return lines


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_during_holding_aborts_stops_force_mode_lifts_and_prints_the_json(signum: int) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([*CLI, "--arm", "sim", "--target", "rubber_ball", "--real-time", "--json",
                             "--set", "hold_time_s=5.0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        _wait_for_line(proc.stderr, "palpation state holding", 30.0)
        proc.send_signal(signum)
        out, _ = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 1, out
    report = json.loads(out)
    assert report["outcome"] == "fault" and report["reason"].startswith("aborted: abort requested during holding")
    assert report["signal"] == signal.Signals(signum).name
    assert report["force_mode_stopped"] is True
    top = load_scene().get("rubber_ball").top_m
    assert report["end_pose"][2] >= top[2] + PalpationConfig().approach_clearance_m - 1e-4   # lifted clear


@pytest.mark.parametrize(("args", "message"), [
    (["--set", "presses=3.0"], "presses = 3.0 must be an integer in [1, 8]"),
    (["--set", "presses=!!python/object/apply:os.system [echo]"], "no !!python tags"),
    (["--set", "target_force_n=[1,"], "not valid YAML"),
    (["--set", "arm_model=ur5"], "arm_model = 'ur5' is not allowed"),
])
def test_bad_values_are_usage_errors(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    code = main(["palpate", "--arm", "sim", "--target", "wood_ball", *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err, err


@pytest.mark.parametrize(("text", "message"), [
    ("frame: base\nobjects: [{name: a, material: rubber\n", "is not valid YAML"),
    ("frame: !!python/name:os.system base\nobjects: []\n", "no !!python tags"),
    ("objects:\n- {name: a, material: rubber, shape: sphere, radius_m: 0.03, pose: {xyz: [0.6, .nan, 0.03]}}\n",
     "pose.xyz = [0.6, nan, 0.03] is not finite"),
    ("objects:\n- {name: a, material: rubber, shape: sphere, radius_m: .inf, pose: {xyz: [0.6, 0, 0.03]}}\n",
     "size = [inf] is not finite"),
    ("objects:\n- {name: deep, material: rubber, shape: sphere, radius_m: 0.03, pose: {xyz: [0.6, 0, -0.47]}}\n",
     "reaches 500.0 mm below the table top"),
])
def test_a_bad_scene_is_a_usage_error_naming_the_problem(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str) -> None:
    scene = tmp_path / "scene.yaml"
    scene.write_text(text)
    code = main(["palpate", "--arm", "sim", "--target", "a", "--scene", str(scene)])
    err = capsys.readouterr().err
    assert code == 2 and message in err, err


def test_a_first_dry_run_at_30_percent_speed_does_not_time_out(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["palpate", "--arm", "sim", "--target", "silicone_ball", "--json", "--speed-slider", "0.3",
                 "--set", "target_force_n=5.0", "--set", "max_force_n=10.0", "--set", "travel_speed_mps=0.1",
                 "--set", "approach_speed_mps=0.02", "--set", "press_speed_limit_mps=0.005"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0, report["reason"]
    assert all(abs(p["force_n"] - 5.0) <= 1.0 for p in report["presses"])
    assert report["duration_s"] > 20.0          # it really ran slowly, and no state timed out
