"""The simulated UR10 on its own: kinematics, movel timing, force mode, F/T zeroing, watchdog, pacing."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from tactile_material_ros.robot.arm_port import ArmCommandRejected, ArmConnectionError, ForceModeCommand
from tactile_material_ros.robot.poses import (
    make_pose,
    matrix_to_quaternion,
    matrix_to_rotvec,
    rotvec_to_matrix,
    split_pose,
    tool_angle_rad,
    tool_down,
    wrench_in_tool_axes,
)
from tactile_material_ros.robot.sim_arm import SimArm, SimArmConfig
from tactile_material_ros.robot.ur_kinematics import UR10, URKinematics
from tactile_material_ros.sim.contact_model import ContactModel
from tactile_material_ros.sim.scene import Scene, load_scene


@pytest.fixture(scope="module")
def scene() -> Scene:
    return load_scene()


def _arm(scene: Scene, **config: object) -> SimArm:
    arm = SimArm(scene, SimArmConfig(**config))  # type: ignore[arg-type]
    arm.connect()
    arm.prepare()
    return arm


def _run(arm: SimArm, seconds: float, every_period: object = None) -> None:
    token = arm.period_start()
    end = arm.now() + seconds
    while arm.now() < end - 1e-9:
        arm.period_wait(token)
        token = arm.period_start()
        arm.kick_watchdog()
        if callable(every_period):
            every_period()


def test_ur10_forward_kinematics_matches_the_published_geometry() -> None:
    kin = URKinematics(UR10)
    # arm straight up: the flange sits d1 + |a2| + |a3| + d5 above the base, d4 + d6 to the side
    p, r = kin.forward(np.array([0.0, -math.pi / 2, 0.0, -math.pi / 2, 0.0, 0.0]))
    assert p == pytest.approx([0.0, -(0.163941 + 0.0922), 0.1273 + 0.612 + 0.5723 + 0.1157], abs=1e-9)
    # all zeros: stretched out along -x at shoulder height
    p, _ = kin.forward(np.zeros(6))
    assert p == pytest.approx([-(0.612 + 0.5723), -(0.163941 + 0.0922), 0.1273 - 0.1157], abs=1e-9)


def test_inverse_kinematics_round_trips_random_reachable_poses() -> None:
    kin = URKinematics(tcp_offset_m=0.06)
    rng = np.random.default_rng(0)
    seed = np.array([math.pi, -1.57, 1.57, -1.57, -1.57, 0.0])
    for _ in range(20):
        q_true = seed + rng.uniform(-0.4, 0.4, 6)
        p, r = kin.forward(q_true)
        q = kin.inverse(p, r, seed)
        p2, r2 = kin.forward(q)
        assert np.linalg.norm(p2 - p) < 1e-6 and np.linalg.norm(matrix_to_rotvec(r2.T @ r)) < 1e-6


def test_rotation_helpers_agree_with_each_other() -> None:
    rng = np.random.default_rng(1)
    for _ in range(50):
        rv = rng.normal(size=3)
        rv *= rng.uniform(0.0, math.pi) / np.linalg.norm(rv)
        r = rotvec_to_matrix(rv)
        assert matrix_to_rotvec(r) == pytest.approx(rv, abs=1e-9)
        x, y, z, w = matrix_to_quaternion(r)
        assert w >= 0 and math.isclose(x * x + y * y + z * z + w * w, 1.0)
    for angle in (-2.0, 0.0, 0.7, math.pi / 2):
        assert tool_angle_rad(tool_down(angle)) == pytest.approx(angle)


def test_a_base_axes_wrench_turns_into_the_tool_axes_with_the_tcp_pose() -> None:
    # pressing straight down, the object pushes the tool up (+z in base): along the tool's Z it is -24 N
    pose = make_pose(np.array([0.5, 0.1, 0.2]), tool_down(0.0))
    assert wrench_in_tool_axes(np.array([0.0, 0.0, 24.0, 0.0, 0.0, 0.0]), pose) == pytest.approx([0, 0, -24, 0, 0, 0])
    # the tool turned by 90 deg about its Z: a push along base +x is along tool -y (tool x has base yaw -90 deg)
    turned = make_pose(np.array([0.5, 0.1, 0.2]), tool_down(math.pi / 2))
    tool = wrench_in_tool_axes(np.array([5.0, 0.0, 24.0, 0.0, 0.0, 1.0]), turned)
    assert tool == pytest.approx([0.0, -5.0, -24.0, 0.0, 0.0, -1.0], abs=1e-9)
    # a rotation keeps the magnitudes, and going back with R gives the base-axes wrench again
    rot = rotvec_to_matrix(turned[3:])
    assert np.concatenate([rot @ tool[:3], rot @ tool[3:]]) == pytest.approx([5.0, 0.0, 24.0, 0.0, 0.0, 1.0])


def test_joint_states_follow_the_tcp_through_the_ur10_kinematics(scene: Scene) -> None:
    arm = _arm(scene)
    kin = URKinematics(tcp_offset_m=arm.config.tcp_offset_m)
    target = make_pose(np.array([0.55, -0.2, 0.15]), tool_down(0.5))
    arm.move_linear(target, 0.25, 1.2)
    _run(arm, 2.0)
    p, r = kin.forward(arm.joint_positions())
    tp, tr = split_pose(target)
    assert np.linalg.norm(p - tp) < 1e-6 and np.linalg.norm(matrix_to_rotvec(r.T @ tr)) < 1e-6


def test_movel_respects_speed_and_acceleration_and_takes_the_trapezoid_time(scene: Scene) -> None:
    arm = _arm(scene)
    start = arm.tcp_pose()
    goal = start.copy()
    goal[1] += 0.30
    speed, accel = 0.2, 0.8
    arm.move_linear(goal, speed, accel)
    ys: list[float] = []
    times: list[float] = []
    _run(arm, 2.5, lambda: (ys.append(float(arm.tcp_pose()[1])), times.append(arm.now())))
    v = np.diff(ys) / np.diff(times)
    assert v.max() <= speed * 1.001
    assert np.abs(np.diff(v) / np.diff(times)[1:]).max() <= accel * 1.05
    arrival = times[int(np.argmax(np.isclose(ys, goal[1], atol=1e-9)))] - (times[0] - arm.period_s)
    assert arrival == pytest.approx(0.30 / speed + speed / accel, abs=0.01)


def test_a_pure_rotation_runs_at_four_times_the_linear_speed_in_rad_per_s(scene: Scene) -> None:
    arm = _arm(scene)
    p, r = split_pose(arm.tcp_pose())
    arm.move_linear(make_pose(p, r @ tool_down(0.0).T @ tool_down(math.pi / 2)), 0.25, 2.0)
    started = arm.now()
    while abs(math.degrees(tool_angle_rad(split_pose(arm.tcp_pose())[1]))) < 89.99:
        _run(arm, arm.period_s)
    assert arm.now() - started == pytest.approx((math.pi / 2) / (4 * 0.25) + (4 * 0.25) / (4 * 2.0), abs=0.01)


def test_unreachable_poses_are_refused_like_the_controller_does(scene: Scene) -> None:
    arm = _arm(scene)
    with pytest.raises(ArmCommandRejected, match="no joint solution"):
        arm.move_linear(make_pose(np.array([2.5, 0.0, 0.2]), tool_down(0.0)), 0.25, 1.2)


def test_zeroing_removes_the_ft_offset_and_drift_builds_up_again(scene: Scene) -> None:
    arm = _arm(scene, ft_offset_n=5.0, ft_drift_n_per_s=0.5)
    assert np.linalg.norm(arm.tcp_wrench()[:3]) > 2.0           # offset before zeroing
    arm.zero_ft()                                               # subtracts one (noisy) reading
    readings = []
    _run(arm, 0.2, lambda: readings.append(arm.tcp_wrench()[:3]))
    assert np.linalg.norm(np.mean(readings, axis=0)) < 4 * arm.config.force_noise_n
    _run(arm, 20.0)
    late = []
    _run(arm, 0.2, lambda: late.append(arm.tcp_wrench()[:3]))
    assert np.linalg.norm(np.mean(late, axis=0)) > 2.0          # drift: zero before every press


@pytest.mark.parametrize("name", ["rubber_ball", "silicone_ball"])
def test_force_mode_settles_at_the_commanded_force_at_the_contact_law_depth(scene: Scene, name: str) -> None:
    arm = _arm(scene)
    obj = scene.get(name)
    above = make_pose(obj.top_m + np.array([0.0, 0.0, 0.003]), tool_down(0.0))
    arm.move_linear(above, 0.3, 1.2)
    _run(arm, 2.0)
    arm.zero_ft()                              # in free air: force mode regulates the zeroed reading
    arm.force_mode(ForceModeCommand.press_along_tool_z(above, 24.0, 0.015, 0.2, 1.0))
    _run(arm, 1.5, lambda: arm.force_mode(ForceModeCommand.press_along_tool_z(above, 24.0, 0.015, 0.2, 1.0)))
    # within what zeroing on one noisy sample leaves (4 sigma)
    assert arm.contact_force_n() == pytest.approx(24.0, abs=4 * arm.config.force_noise_n)
    elastic = scene.library.get(obj.material).elastic
    depth = float(obj.top_m[2] - arm.tcp_pose()[2])
    expected = ContactModel(scene.library.gel).depth_at_force(obj.shape, elastic, arm.contact_force_n())
    assert depth == pytest.approx(expected, abs=2e-6)


def test_the_watchdog_stops_the_script_and_force_mode_when_not_kicked(scene: Scene) -> None:
    arm = _arm(scene)
    arm.force_mode(ForceModeCommand.press_along_tool_z(arm.tcp_pose(), 5.0, 0.01, 0.2, 1.0))
    token = arm.period_start()
    for _ in range(60):                       # 120 ms without a kick
        arm.period_wait(token)
        token = arm.period_start()
    assert not arm.controller_in_force_mode and not arm.script_running
    with pytest.raises(ArmCommandRejected, match="control script is not running"):
        arm.move_linear(arm.tcp_pose(), 0.1, 1.0)
    arm.prepare()                              # what the next cycle does: re-upload
    assert arm.script_running


def test_a_lost_link_refuses_every_call_but_the_local_period_timing(scene: Scene) -> None:
    arm = _arm(scene)
    arm.inject("lost_link")
    assert not arm.safety().connected
    for call in (arm.tcp_pose, arm.tcp_wrench, arm.zero_ft, arm.kick_watchdog, arm.force_mode_active):
        with pytest.raises(ArmConnectionError):
            call()
    arm.period_wait(arm.period_start())       # initPeriod/waitPeriod never talk to the robot


def test_real_time_pacing_follows_the_wall_clock(scene: Scene) -> None:
    arm = _arm(scene, real_time_factor=1.0)
    started = time.monotonic()
    _run(arm, 0.3)
    assert time.monotonic() - started == pytest.approx(0.3, abs=0.1)
