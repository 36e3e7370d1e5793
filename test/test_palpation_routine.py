"""The palpation routine on the simulated UR10: full cycles, the fault matrix, abort, configuration.

No mocks: the routine drives the simulated arm (UR10 kinematics, force-mode admittance against
the scene's contact model, F/T offset, drift and noise), whose clock runs faster than real time.
Assertions about force mode read the simulated controller's own state, not the routine's word.
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest

from tactile_material_ros.robot.arm_port import ArmSample
from tactile_material_ros.robot.cell import ARM_MODELS
from tactile_material_ros.robot.fault_injection import FaultInjection, FaultInjector, allowed_states
from tactile_material_ros.robot.palpation import (
    FaultCode,
    PalpationConfig,
    PalpationListener,
    PalpationResult,
    PalpationRoutine,
    PalpationState,
)
from tactile_material_ros.robot.poses import make_pose, rot_x, split_pose, tool_angle_rad
from tactile_material_ros.robot.sim_arm import SimArm, SimArmConfig, SimFault
from tactile_material_ros.sim.contact_model import ContactModel
from tactile_material_ros.sim.scene import Scene, load_scene

BALLS = ("rubber_ball", "plastic_ball", "wood_ball", "silicone_ball")
EXPECTED_CODE = {
    SimFault.LOST_LINK: FaultCode.LOST_LINK,
    SimFault.PROTECTIVE_STOP: FaultCode.PROTECTIVE_STOP,
    SimFault.EMERGENCY_STOP: FaultCode.EMERGENCY_STOP,
    SimFault.OVERSHOOT: FaultCode.OVERSHOOT,
    SimFault.NO_CONTACT: FaultCode.NO_CONTACT,
    SimFault.STALL: FaultCode.TIMEOUT,
    SimFault.SAFEGUARD_STOP: FaultCode.SAFEGUARD_STOP,
    SimFault.PAUSE: FaultCode.PROGRAM_PAUSED,
    SimFault.PRELOAD: FaultCode.PRELOAD,
}
PAUSING = (SimFault.SAFEGUARD_STOP, SimFault.PAUSE)     # the program freezes: nothing moves, nothing can be read
MATRIX = [(model, fault, state) for model in ARM_MODELS for fault in SimFault for state in allowed_states(fault)]


def settings_for(model: str) -> PalpationConfig:
    """The default settings, raised to what the model's force noise needs (a CB3's)."""
    defaults = PalpationConfig()
    return PalpationConfig(**{name: max(getattr(defaults, name), value)
                              for name, value in ARM_MODELS[model].minimum_settings().items()})


@pytest.fixture(scope="module")
def scene() -> Scene:
    return load_scene()


def _arm(scene: Scene) -> SimArm:
    arm = SimArm(scene)
    arm.connect()
    return arm


def _lifted_clear(arm: SimArm) -> bool:
    return arm.contact_force_n() == 0.0


@pytest.fixture(scope="module")
def cycles(scene: Scene) -> dict[str, tuple[PalpationResult, SimArm]]:
    results = {}
    for name in BALLS:
        arm = _arm(scene)
        results[name] = (PalpationRoutine(arm).palpate(scene.get(name).top_m), arm)
    return results


@pytest.mark.parametrize("name", BALLS)
def test_a_full_cycle_presses_twice_at_24_n_90_degrees_apart_and_returns_to_the_start(
        name: str, cycles: dict[str, tuple[PalpationResult, SimArm]]) -> None:
    result, arm = cycles[name]
    config = PalpationConfig()
    assert result.outcome == "done", result.reason
    assert [s.state for s in result.states] == [
        "approaching", "pressing", "holding", "retracting", "rotating",
        "pressing", "holding", "retracting", "rotating", "done"]
    assert len(result.presses) == 2
    for press in result.presses:
        assert abs(press.force_n - config.target_force_n) <= config.force_tolerance_n
        assert press.depth_m > 0.0
    turn = result.presses[1].tool_angle_deg - result.presses[0].tool_angle_deg
    assert turn == pytest.approx(90.0, abs=0.5)
    start_p, start_r = split_pose(result.start_pose)
    end_p, end_r = split_pose(result.end_pose)
    assert np.linalg.norm(end_p - start_p) < 0.0005
    assert math.degrees(abs(tool_angle_rad(end_r) - tool_angle_rad(start_r))) < 0.5
    assert result.force_mode_stopped is True and not arm.controller_in_force_mode
    assert result.duration_s < 10.0, "a cycle at real time should take a handful of seconds"


def test_the_softer_ball_is_pressed_deeper_and_depth_follows_the_contact_law(
        scene: Scene, cycles: dict[str, tuple[PalpationResult, SimArm]]) -> None:
    depth = {name: float(np.mean([p.depth_m for p in cycles[name][0].presses])) for name in BALLS}
    assert depth["silicone_ball"] > depth["rubber_ball"] > depth["plastic_ball"]
    # the measured depth (from the 1 N first-touch threshold) is within 0.5 mm of the Hertz law's
    model = ContactModel(scene.library.gel)
    for name in BALLS:
        obj = scene.get(name)
        elastic = scene.library.get(obj.material).elastic
        expected = model.depth_at_force(obj.shape, elastic, 24.0) - model.depth_at_force(obj.shape, elastic, 1.0)
        assert depth[name] == pytest.approx(expected, abs=0.0005), name


@pytest.mark.parametrize(("model", "fault", "state"), MATRIX,
                         ids=[f"{m}-{f.value}-{s.value}" for m, f, s in MATRIX])
def test_every_injected_fault_ends_in_fault_with_force_mode_stopped(
        scene: Scene, model: str, fault: SimFault, state: PalpationState) -> None:
    arm = SimArm(scene, SimArmConfig(model=model))
    arm.connect()
    config = settings_for(model)
    injector = FaultInjector(arm, FaultInjection(fault, state), "plastic_ball")
    routine = PalpationRoutine(arm, config, [injector])
    started = time.monotonic()
    result = routine.palpate(scene.get("plastic_ball").top_m)   # no exception may escape
    assert time.monotonic() - started < 10.0
    assert injector.fired_at is not None
    assert result.outcome == "fault"
    assert result.states[-1].state == f"fault: {result.reason}"
    assert result.fault_code is EXPECTED_CODE[fault], result.reason
    assert routine.state.startswith(f"fault: {EXPECTED_CODE[fault].value}: ")
    assert result.duration_s <= config.max_cycle_time_s()
    if fault in PAUSING:
        # the controller cannot say whether force mode is on in a paused program: reported as unknown,
        # never guessed; the arm stays where the pause froze it
        assert result.force_mode_stopped is None
        assert any(e.what == "program_paused" for e in arm.record)
        assert not any(e.what.startswith("move") and e.t > injector.fired_at for e in arm.record)
        return
    # the controller's own record: not in force mode, and every force-mode entry was ended
    assert not arm.controller_in_force_mode
    entries = sum(e.what == "force_mode" for e in arm.record)
    exits = sum(e.what in ("force_mode_stop", "force_mode_end") for e in arm.record)
    assert entries == exits
    if fault in (SimFault.OVERSHOOT, SimFault.NO_CONTACT, SimFault.PRELOAD):   # the arm can move: it lifted clear
        assert _lifted_clear(arm)
    if fault is SimFault.LOST_LINK:
        assert result.force_mode_stopped is None            # the client cannot know; the watchdog acted
        assert any(e.what == "script_stopped" and "watchdog" in e.detail for e in arm.record)
    else:
        assert result.force_mode_stopped is True


def test_a_rigid_object_under_the_gel_makes_force_mode_overshoot_and_the_cycle_fault(scene: Scene) -> None:
    arm = _arm(scene)
    top = scene.get("plastic_ball").top_m
    arm.add_obstacle(float(top[2]) + 0.002)        # a steel plate 2 mm above the ball's top
    result = PalpationRoutine(arm).palpate(top)
    assert result.fault_code is FaultCode.OVERSHOOT, result.reason
    assert [s.state for s in result.states][-2] == "pressing"
    assert not arm.controller_in_force_mode and _lifted_clear(arm)


def test_abort_from_another_thread_while_pressing_stops_force_mode_and_lifts_clear(scene: Scene) -> None:
    arm = _arm(scene)
    routine = PalpationRoutine(arm)
    in_force_mode_at_abort: list[bool] = []

    class AbortWhilePressing(PalpationListener):
        wants_samples = True

        def on_sample(self, sample: object) -> None:
            if routine.state == "pressing" and arm.contact_force_n() > 5.0 and not in_force_mode_at_abort:
                in_force_mode_at_abort.append(arm.controller_in_force_mode)
                caller = threading.Thread(target=routine.abort)
                caller.start()
                caller.join()

    routine.add_listener(AbortWhilePressing())
    result = routine.palpate(scene.get("rubber_ball").top_m)
    assert in_force_mode_at_abort == [True]
    assert result.fault_code is FaultCode.ABORTED
    assert result.states[-2].state == "pressing"
    assert result.force_mode_stopped is True and not arm.controller_in_force_mode
    assert _lifted_clear(arm)
    assert routine.abort() is False          # nothing running any more


def test_force_mode_is_stopped_even_when_a_base_exception_escapes(scene: Scene) -> None:
    arm = _arm(scene)

    class Interrupt(PalpationListener):
        def on_state(self, state: str, t: float) -> None:
            if state == "holding":
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        PalpationRoutine(arm, listeners=[Interrupt()]).palpate(scene.get("wood_ball").top_m)
    assert not arm.controller_in_force_mode and _lifted_clear(arm)


def test_after_a_protective_stop_is_cleared_the_next_cycle_reuploads_the_script_and_succeeds(scene: Scene) -> None:
    arm = _arm(scene)
    target = scene.get("rubber_ball").top_m
    routine = PalpationRoutine(arm, listeners=[FaultInjector(arm, FaultInjection.parse("protective_stop@holding"))])
    assert routine.palpate(target).fault_code is FaultCode.PROTECTIVE_STOP
    assert routine.palpate(target).fault_code is FaultCode.PROTECTIVE_STOP   # not cleared yet: refused at once
    arm.clear_protective_stop()
    # the stop left the gel pressed into the ball: a cycle started there zeroes under load, which the
    # first press's free check catches (the reading drops by the load when the tool rises)
    result = routine.palpate(target)
    assert result.fault_code is FaultCode.PRELOAD and "zeroed at the start pose under load" in result.reason
    assert any(e.what == "control script re-uploaded" for e in arm.record)
    assert arm.contact_force_n() == 0.0                  # it lifted clear on the way
    result = routine.palpate(target)                     # from a free start pose: a normal cycle
    assert result.outcome == "done", result.reason


def test_a_second_cycle_while_one_runs_is_refused(scene: Scene) -> None:
    arm = _arm(scene)
    routine = PalpationRoutine(arm)
    refusals: list[str] = []

    class Reenter(PalpationListener):
        def on_state(self, state: str, t: float) -> None:
            if state == "holding" and not refusals:
                try:
                    routine.palpate(np.zeros(3))
                except RuntimeError as exc:
                    refusals.append(str(exc))

    routine.add_listener(Reenter())
    assert routine.palpate(scene.get("rubber_ball").top_m).outcome == "done"
    assert refusals and "already running" in refusals[0]


def test_the_press_event_streams_and_states_reach_listeners_with_arm_clock_times(scene: Scene) -> None:
    arm = _arm(scene)
    events: list[tuple[str, float]] = []

    class Recorder(PalpationListener):
        wants_samples = True

        def on_state(self, state: str, t: float) -> None:
            events.append((state, t))

        def on_press(self, press: object) -> None:
            events.append(("press", press.t))  # type: ignore[attr-defined]

        def on_sample(self, sample: object) -> None:
            events.append(("sample", sample.t))  # type: ignore[attr-defined]

    PalpationRoutine(arm, listeners=[Recorder()]).palpate(scene.get("wood_ball").top_m)
    names = [e for e, _ in events if e != "sample"]
    assert names.count("press") == 2
    assert names.index("press") == names.index("holding") - 1      # press at settle, then holding
    holding = [t for e, t in events if e == "holding"]
    retracting = [t for e, t in events if e == "retracting"]
    in_hold = [t for e, t in events if e == "sample" and holding[0] <= t < retracting[0]]
    rate = (len(in_hold) - 1) / (in_hold[-1] - in_hold[0])
    assert rate >= 90.0, f"{rate:.0f} samples/s during the hold window"


@pytest.mark.parametrize(("changes", "named", "allowed"), [
    ({"target_force_n": -5.0}, "target_force_n", "allowed [0.5, 100.0]"),
    ({"max_force_n": 20.0}, "max_force_n", "allowed (25, 150.0]"),
    ({"rotation_deg": 400.0}, "rotation_deg", "allowed [-360.0, 360.0]"),
    ({"presses": 1.5}, "presses", "an integer in [1, 8]"),
    ({"max_travel_m": 0.004, "approach_clearance_m": 0.005}, "max_travel_m", "allowed (0.005, 0.1]"),
])
def test_invalid_configurations_are_refused_with_the_parameter_and_its_range(
        changes: dict[str, float], named: str, allowed: str) -> None:
    with pytest.raises(ValueError) as error:
        PalpationConfig(**changes)
    assert named in str(error.value) and allowed in str(error.value)


def test_unknown_parameter_names_are_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown palpation parameter.*target_force"):
        PalpationConfig.from_mapping({"target_force": 24.0})


def test_from_a_start_below_the_travel_height_it_rises_first_and_comes_back_the_same_way(scene: Scene) -> None:
    arm = SimArm(scene, SimArmConfig(home_position_m=(0.50, 0.0, 0.09)))
    arm.connect()
    lowest_away_from_target: list[float] = []

    class Watch(PalpationListener):
        wants_samples = True

        def on_sample(self, sample: ArmSample) -> None:
            if abs(sample.tcp_pose[0] - 0.50) > 0.01 and sample.tcp_pose[0] < 0.63:
                lowest_away_from_target.append(float(sample.tcp_pose[2]))

    target = scene.get("plastic_ball").top_m
    result = PalpationRoutine(arm, listeners=[Watch()]).palpate(target)
    assert result.outcome == "done", result.reason
    assert min(lowest_away_from_target) >= target[2] + PalpationConfig().travel_clearance_m - 0.001
    assert np.linalg.norm(result.end_pose[:3] - result.start_pose[:3]) < 0.0005


def test_a_tool_that_does_not_point_down_at_the_start_is_refused_before_moving(scene: Scene) -> None:
    arm = SimArm(scene, SimArmConfig(home_tool_angle_deg=0.0))
    arm.connect()
    arm.prepare()
    p, r = split_pose(arm.tcp_pose())
    arm.move_linear(make_pose(p, r @ rot_x(math.radians(30))), 0.25, 1.2)
    token = arm.period_start()
    for _ in range(1000):
        arm.period_wait(token)
        token = arm.period_start()
        arm.kick_watchdog()
    before = arm.tcp_pose()
    result = PalpationRoutine(arm).palpate(scene.get("rubber_ball").top_m)
    assert result.fault_code is FaultCode.START_POSE and "tilted 30.0 deg" in result.reason
    assert np.array_equal(arm.tcp_pose(), before)          # a refused start pose does not move the arm
