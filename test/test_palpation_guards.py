"""The cell's guards on the honest simulated UR10: preload, wrist winding, workspace and table, zeroing, slider."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from tactile_material_ros.robot.cell import Workspace
from tactile_material_ros.robot.palpation import FaultCode, PalpationConfig, PalpationListener, PalpationRoutine
from tactile_material_ros.robot.sim_arm import SimArm, SimArmConfig
from tactile_material_ros.sim.scene import Scene, load_scene


@pytest.fixture(scope="module")
def scene() -> Scene:
    return load_scene()


def _arm(scene: Scene, **config: object) -> SimArm:
    arm = SimArm(scene, SimArmConfig(**config))  # type: ignore[arg-type]
    arm.connect()
    return arm


class TrueForce(PalpationListener):
    wants_samples = True

    def __init__(self, arm: SimArm) -> None:
        self.arm, self.forces = arm, [0.0]

    def on_sample(self, sample: object) -> None:
        self.forces.append(self.arm.contact_force_n())


@pytest.mark.parametrize("model", ["e_series", "cb3"])
def test_an_object_7_mm_higher_than_the_scene_says_ends_in_preload_never_in_a_hidden_overload(
        scene: Scene, model: str) -> None:
    arm = _arm(scene, model=model)
    arm.raise_object("rubber_ball", 0.007)
    config = PalpationConfig(**({} if model == "e_series" else arm.model.minimum_settings()))
    truth = TrueForce(arm)
    result = PalpationRoutine(arm, config, [truth]).palpate(scene.get("rubber_ball").top_m)  # the file's top
    assert result.fault_code is FaultCode.PRELOAD, result.reason
    assert result.force_mode_stopped is True and not arm.controller_in_force_mode
    assert max(truth.forces) < config.max_force_n and arm.contact_force_n() == 0.0
    assert not any(e.what == "force_mode" for e in arm.record)       # never pressed on top of the preload


def test_the_ft_is_never_zeroed_under_load_and_the_force_limit_stays_absolute(scene: Scene) -> None:
    arm = _arm(scene)
    top = scene.get("plastic_ball").top_m

    class LoadBeforeThePress(PalpationListener):
        def on_state(self, state: str, t: float) -> None:
            if state == "pressing":            # something presses 10 N on the gel just before the zero
                arm.add_obstacle(float(arm.tcp_pose()[2]) + 1.0e-5)

    result = PalpationRoutine(arm, listeners=[LoadBeforeThePress()]).palpate(top)
    assert result.fault_code is FaultCode.PRELOAD and "not free before zeroing" in result.reason
    assert not any(e.what == "force_mode" for e in arm.record)


def test_four_presses_twice_in_a_row_unwind_wrist_3(scene: Scene) -> None:
    arm = _arm(scene)
    start = float(arm.joint_positions()[5])
    routine = PalpationRoutine(arm, PalpationConfig(presses=4))
    for _ in range(2):
        result = routine.palpate(scene.get("plastic_ball").top_m)
        assert result.outcome == "done", result.reason
        assert [round(p.tool_angle_deg) % 360 for p in result.presses] == [0, 90, 180, 270]
        assert abs(math.degrees(float(arm.joint_positions()[5]) - start)) <= 180.0


def test_a_wrist_turn_beyond_its_limit_is_refused_before_moving(scene: Scene) -> None:
    arm = _arm(scene)
    before = arm.tcp_pose()
    result = PalpationRoutine(arm, PalpationConfig(presses=8, rotation_deg=90.0)).palpate(
        scene.get("plastic_ball").top_m)
    assert result.fault_code is FaultCode.JOINT_LIMIT and "max_wrist_turn_deg" in result.reason
    assert np.array_equal(arm.tcp_pose(), before) and not any(e.what.startswith("move") for e in arm.record)


@pytest.mark.parametrize(("target", "box", "message"), [
    ((0.65, 0.0, -0.05), None, "below the table top"),
    ((0.65, 0.0, 0.01), None, "would reach z = -0.0050 m, below the table top"),
    ((1.6, 0.0, 0.06), None, "outside the workspace box"),
    ((0.65, 0.0, 0.06), ((-1.0, -1.0, 0.0), (1.0, 1.0, 0.15)), "the start pose"),
])
def test_targets_outside_the_workspace_or_below_the_table_are_refused_before_moving(
        scene: Scene, target: tuple[float, float, float], box: tuple | None, message: str) -> None:
    arm = _arm(scene)
    workspace = Workspace(*box, scene.table_z_m) if box else Workspace(table_z_m=scene.table_z_m)
    before = arm.tcp_pose()
    result = PalpationRoutine(arm, workspace=workspace).palpate(np.array(target))
    assert result.fault_code is FaultCode.WORKSPACE and message in result.reason, result.reason
    assert np.array_equal(arm.tcp_pose(), before)


def test_the_table_is_a_rigid_plane_in_the_simulated_world(scene: Scene) -> None:
    flat = dataclasses.replace(scene, objects=())
    arm = _arm(flat)
    top = np.array([0.65, 0.0, 0.002])          # a target 2 mm above the table with nothing on it
    result = PalpationRoutine(arm, PalpationConfig(max_travel_m=0.006, approach_clearance_m=0.003)).palpate(top)
    assert result.fault_code in (FaultCode.OVERSHOOT, FaultCode.MAX_TRAVEL, FaultCode.WORKSPACE), result.reason


def test_at_30_percent_speed_the_timeouts_stretch_with_the_planned_motion(scene: Scene) -> None:
    fast = PalpationRoutine(_arm(scene)).palpate(scene.get("wood_ball").top_m)
    slow_arm = _arm(scene, speed_fraction=0.3)
    slow = PalpationRoutine(slow_arm).palpate(scene.get("wood_ball").top_m)
    assert fast.outcome == slow.outcome == "done", slow.reason
    assert slow.duration_s > 2.0 * fast.duration_s


def test_the_cb3_profile_is_noisy_and_slow_like_the_real_one(scene: Scene) -> None:
    arm = _arm(scene, model="cb3")
    assert arm.period_s == pytest.approx(0.008)
    arm.prepare()
    arm.zero_ft()
    readings = []
    token = arm.period_start()
    for _ in range(100):
        arm.period_wait(token)
        token = arm.period_start()
        arm.kick_watchdog()
        readings.append(arm.tcp_wrench()[2])
    assert 1.5 < float(np.std(readings)) < 3.0           # several newtons, from joint currents
    assert arm.now() == pytest.approx(0.8, abs=0.01)      # 125 Hz


def test_settings_a_cb3_cannot_hold_are_refused_before_moving(scene: Scene) -> None:
    arm = SimArm(scene, SimArmConfig(model="cb3"))
    arm.connect()
    before = arm.tcp_pose()
    refused = PalpationRoutine(arm).palpate(scene.get("rubber_ball").top_m)          # the e-Series defaults
    assert refused.fault_code is FaultCode.SETTINGS and "docs/hardware.md" in refused.reason
    assert np.array_equal(arm.tcp_pose(), before) and not any(e.what.startswith("move") for e in arm.record)
