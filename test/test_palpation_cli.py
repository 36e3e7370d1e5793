"""`tactile-material palpate`: one cycle without ROS, JSON report, exit codes."""

from __future__ import annotations

import json

import pytest

from tactile_material_ros.cli.main import main


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict, str]:
    code = main(["palpate", *args])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out.strip().startswith("{") else {}), err


def test_a_sim_cycle_prints_one_json_object_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, report, _ = _run(capsys, "--arm", "sim", "--target", "silicone_ball", "--json")
    assert code == 0
    assert report["outcome"] == "done" and report["reason"] is None
    assert [s["state"] for s in report["states"]][:3] == ["approaching", "pressing", "holding"]
    assert report["states"][-1]["state"] == "done"
    assert len(report["presses"]) == 2 and set(report["presses"][0]) == {"force_n", "tool_angle_deg", "depth_m"}
    assert report["force_mode_stopped"] is True


def test_a_dry_run_with_lowered_force_presses_at_that_force(capsys: pytest.CaptureFixture[str]) -> None:
    code, report, _ = _run(capsys, "--arm", "sim", "--target", "rubber_ball", "--set", "target_force_n=5.0",
                           "--set", "max_force_n=10.0", "--json")
    assert code == 0
    assert all(abs(p["force_n"] - 5.0) <= 1.0 for p in report["presses"])


def test_an_injected_fault_is_reported_with_exit_code_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, report, _ = _run(capsys, "--arm", "sim", "--target", "wood_ball", "--inject", "overshoot@holding", "--json")
    assert code == 1
    assert report["outcome"] == "fault" and report["reason"].startswith("overshoot: ")
    assert report["states"][-1]["state"] == f"fault: {report['reason']}"
    assert report["force_mode_stopped"] is True


def test_no_robot_at_the_address_is_a_fault_that_names_it(capsys: pytest.CaptureFixture[str]) -> None:
    code, report, _ = _run(capsys, "--arm", "ur_rtde", "--robot-ip", "127.0.0.1", "--target", "wood_ball", "--json")
    assert code == 1
    assert report["reason"].startswith("no_connection: ") and "127.0.0.1" in report["reason"]
    assert report["force_mode_stopped"] is None


@pytest.mark.parametrize(("args", "message"), [
    (["--set", "rotation_deg=400"], "rotation_deg = 400 is out of range: allowed [-360.0, 360.0]"),
    (["--inject", "stall@done"], "cannot inject at state 'done'"),
    (["--inject", "meteor@holding"], "unknown fault 'meteor'"),
])
def test_usage_errors_exit_2_with_a_message(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    code, _, err = _run(capsys, "--arm", "sim", "--target", "wood_ball", *args)
    assert code == 2 and message in err, err


def test_an_unknown_target_lists_the_scene_objects(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(capsys, "--arm", "sim", "--target", "bowling_ball")
    assert code == 2 and "rubber_ball, plastic_ball, wood_ball, silicone_ball" in err
