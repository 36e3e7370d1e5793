"""The classifier's triggers without ROS: press windows and cycles, one label per touch, newest frame only."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from model_fixture import make_test_model

from tactile_material_ros.inference.frame_freshness import Delivery
from tactile_material_ros.inference.live_classifier import ClassifierConfig, LiveClassifier, StampedFrame
from tactile_material_ros.inference.onnx_classifier import OnnxClassifier
from tactile_material_ros.inference.press_fusion import fuse_log_probabilities

W, H = 240, 320


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_test_model(tmp_path_factory.mktemp("model"))


def _background() -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    return np.stack([90 + 40 * x / W, 110 - 30 * y / H, 100 + 20 * np.sin(y / 40)], axis=2).astype(np.uint8)


def _frame(rng: np.random.Generator, contact: float = 0.0, centre: tuple[int, int] = (120, 160)) -> np.ndarray:
    """The background with sensor noise and, for contact > 0, a disc imprint lit from one side."""
    img = _background().astype(np.float32)
    if contact:
        y, x = np.mgrid[0:H, 0:W]
        disc = ((x - centre[0]) ** 2 + (y - centre[1]) ** 2) < (30 * contact) ** 2
        img[disc] += (60 * contact, -40 * contact, 30 * contact)
    return np.clip(img + rng.normal(0, 5, img.shape), 0, 255).astype(np.uint8)


def _live(model_path: Path, **kwargs: object) -> LiveClassifier:
    return LiveClassifier.from_config(ClassifierConfig(model_path=str(model_path), **kwargs))


def _start_cycle(live: LiveClassifier, rng: np.random.Generator, press_s: float) -> None:
    """`approaching`, one free frame (the cycle's reference, reference_frames=1), then a press at ``press_s``."""
    live.on_state("approaching", 0.0)
    live.on_frame(StampedFrame(0.1, _frame(rng)))
    live.on_press(press_s)


def test_a_cycle_fuses_the_frames_of_both_hold_windows_into_one_label(model_path: Path) -> None:
    live = _live(model_path, hold_window_s=0.3, max_frames_per_press=50, reference_frames=3)
    rng = np.random.default_rng(0)
    frames: dict[float, np.ndarray] = {}
    results = []
    labelled_at: list[float] = []

    def stream(t0: float, t1: float, contact: float) -> None:
        for t in np.arange(t0, t1, 1 / 30):
            frames[round(float(t), 4)] = _frame(rng, contact)
            new = live.on_frame(StampedFrame(round(float(t), 4), frames[round(float(t), 4)]))
            results.extend(new)
            labelled_at.extend([round(float(t), 4)] * len(new))

    stream(0.0, 0.2, 0.0)                      # start-up reference
    results.extend(live.on_state("approaching", 0.2))
    stream(0.2, 1.0, 0.0)                      # the cycle's reference, then descending
    results.extend(live.on_press(1.0, (0.65, -0.3, 0.07), "base"))
    stream(1.0, 1.6, 1.0)                      # first press held; window [1.0, 1.3]
    results.extend(live.on_state("retracting", 1.6))
    stream(1.6, 2.5, 0.0)
    results.extend(live.on_press(2.5))
    stream(2.5, 3.2, 0.8)                      # second press (another imprint); window [2.5, 2.8]
    # the routine's two presses are in: the label comes with the frame that fills the second window's
    # last slice (the one at its end, 2.8 s), while the arm still holds, and `done` adds nothing
    assert len(results) == 1 and labelled_at == [max(t for t in frames if t <= 2.8)]
    assert live.on_state("done", 3.2) == []
    result = results[0]
    assert result.stamp_s == max(t for t in frames if t <= 2.8)
    assert result.presses == 2
    assert result.position_m == (0.65, -0.3, 0.07) and result.frame_id == "base"
    assert result.probabilities.sum() == pytest.approx(1.0, abs=1e-6)
    # the very frames of each window, against the reference captured at `approaching`
    model = OnnxClassifier(model_path)
    reference = live.reference.image
    assert live.reference.source == "cycle start"
    windows = [[f for t, f in frames.items() if a <= t <= a + 0.3] for a in (1.0, 2.5)]
    assert result.frames == sum(len(w) for w in windows)
    expected = fuse_log_probabilities([model.predict_proba(w, reference) for w in windows])
    np.testing.assert_allclose(result.probabilities, expected, rtol=1e-5)


def test_with_presses_per_cycle_0_the_label_waits_for_done(model_path: Path) -> None:
    live = _live(model_path, hold_window_s=0.2, reference_frames=1, presses_per_cycle=0)
    rng = np.random.default_rng(7)
    out = live.on_state("approaching", 0.0)
    out += live.on_frame(StampedFrame(0.0, _frame(rng)))
    for press in (1.0, 2.0):
        out += live.on_press(press)
        for i in range(12):
            out += live.on_frame(StampedFrame(press + i * 0.03, _frame(rng, 1.0)))
    assert out == []
    (result,) = live.on_state("done", 3.0)
    assert result.presses == 2


def test_a_hold_window_is_classified_frame_by_frame_one_frame_per_slice(model_path: Path) -> None:
    live = _live(model_path, hold_window_s=0.3, max_frames_per_press=4, reference_frames=1)
    rng = np.random.default_rng(8)
    _start_cycle(live, rng, press_s=1.0)
    classified = []
    for i in range(12):                                          # 30 fps; slices start at 1.0, 1.075, 1.15, 1.225 s
        live.on_frame(StampedFrame(round(1.0 + i / 30, 4), _frame(rng, 1.0)))
        classified.append(live.counters.frames_classified)
    # each slice's first frame is classified when it arrives; with the fourth the window is complete
    assert classified == [1, 1, 1, 2, 2, 3, 3, 4, 4, 4, 4, 4]
    (result,) = live.on_state("done", 2.0)
    assert result.frames == 4 and result.presses == 1


def test_a_fault_drops_the_cycle_and_the_next_cycle_still_labels(model_path: Path) -> None:
    live = _live(model_path, hold_window_s=0.2, reference_frames=2)
    rng = np.random.default_rng(1)
    out = []
    for cycle, ending in enumerate(("fault: overshoot 31.0 N > 30.0 N", "done")):
        base = 10.0 * cycle
        out += live.on_state("approaching", base)
        for i in range(3):
            out += live.on_frame(StampedFrame(base + i * 0.03, _frame(rng)))
        out += live.on_press(base + 1.0)
        for i in range(12):
            out += live.on_frame(StampedFrame(base + 1.0 + i * 0.03, _frame(rng, 1.0)))
        out += live.on_state(ending, base + 2.0)
        assert len(out) == cycle   # nothing after the fault, one label after `done`


def test_press_without_frames_is_reported_and_yields_no_label(model_path: Path) -> None:
    live = _live(model_path, reference_file="", reference_frames=1)
    live.on_frame(StampedFrame(0.0, _frame(np.random.default_rng(2))))
    assert live.on_state("approaching", 0.1) == []
    live.on_press(5.0)
    assert live.on_state("done", 6.0) == []
    assert live.counters.presses_without_frames == 1


def test_one_touch_gives_one_label_in_contact_mode(model_path: Path) -> None:
    live = _live(model_path, trigger="contact", reference_frames=3, frames_per_contact=4)
    rng = np.random.default_rng(3)
    results = []
    t = 0.0
    touches = [("free", 6), ("touch", 10), ("free", 6), ("touch", 2), ("light", 1), ("touch", 9), ("free", 6)]
    for kind, count in touches:
        for _ in range(count):
            contact = {"free": 0.0, "touch": 1.0, "light": 0.15}[kind]
            results += live.on_frame(StampedFrame(t, _frame(rng, contact)))
            t += 1 / 30
    assert live.reference.source == "start-up"
    assert len(results) == 2
    assert all(r.frames == 4 and r.presses == 1 for r in results)


def test_continuous_mode_classifies_each_frame_as_it_arrives_within_the_rate(model_path: Path) -> None:
    live = _live(model_path, trigger="continuous", continuous_rate_hz=10.0, reference_frames=1)
    assert live.trigger.frame_queue_depth == 1                # a waiting frame is replaced, never queued
    rng = np.random.default_rng(4)
    live.on_frame(StampedFrame(0.0, _frame(rng)))           # the start-up reference
    frames = [_frame(rng, c) for c in np.linspace(0.3, 1.0, 60)]
    results = [(i, r) for i, f in enumerate(frames) for r in live.on_frame(StampedFrame(1.0 + i / 60, f))]
    # 60 fps for one second at 10 Hz: one frame in six, each classified on arrival
    assert len(results) == 10 and [i for i, _ in results] == list(range(0, 60, 6))
    assert live.counters.frames_classified == 10 and live.counters.frames_dropped == 50
    i, result = results[-1]
    assert result.stamp_s == pytest.approx(1.0 + i / 60)
    np.testing.assert_array_equal(result.frame, frames[i])
    expected = OnnxClassifier(live.config.model_path).predict_proba(frames[i], live.reference.image)[0]
    np.testing.assert_allclose(result.probabilities, expected, rtol=1e-5)


def test_frames_classified_on_arrival_are_checked_for_freshness(model_path: Path) -> None:
    live = _live(model_path, trigger="continuous", continuous_rate_hz=60.0, reference_frames=1)
    good = _frame(np.random.default_rng(10), 1.0)
    data = good.tobytes()
    for k in range(40):            # each arrives 2 ms after capture and is taken at 3 ms; frame 30 is taken at
        stamp = k / 60             # 25 ms, after frame 31 arrived; frame 36 never comes through
        if k == 36:
            continue
        taken = stamp + (0.025 if k == 30 else 0.003)
        live.on_image(stamp, "bgr8", H, W, W * 3, data, Delivery(taken, stamp + 0.002, k + 1))
    f = live.freshness
    assert f.classified_on_arrival == live.counters.frames_classified == 38   # the 1st one: the reference
    assert (f.stale, f.unverified, f.never_taken, f.possibly_stale) == (1, 1, 1, 0)
    assert f.verified_newest == 38 - 1 - 1 - 1   # and the last one still waits for its successor


def test_continuous_mode_at_the_camera_rate_keeps_every_jittered_frame(model_path: Path) -> None:
    live = _live(model_path, trigger="continuous", continuous_rate_hz=60.0, reference_frames=1)
    rng = np.random.default_rng(9)
    live.on_frame(StampedFrame(0.0, _frame(rng)))
    frame = _frame(rng, 1.0)
    stamps = 1.0 + np.arange(300) / 60 + rng.uniform(-0.002, 0.002, 300)   # 60 fps, +-2 ms capture jitter
    labelled = sum(len(live.on_frame(StampedFrame(float(t), frame))) for t in stamps)
    assert labelled >= 299 and live.counters.frames_dropped <= 1


def test_malformed_images_are_counted_and_skipped(model_path: Path) -> None:
    live = _live(model_path, trigger="continuous", reference_frames=1)
    good = _frame(np.random.default_rng(5))
    live.on_image(0.0, "bgr8", H, W, W * 3, good.tobytes())
    assert live.on_image(0.1, "mono16", H, W, W * 2, bytes(W * H * 2)) == []
    assert live.on_image(0.2, "bgr8", H, W, W * 3, good.tobytes()[:-1]) == []
    assert live.on_image(0.3, "bgr8", H // 2, W, W * 3, good[: H // 2].tobytes()) == []
    assert live.counters.frames_received == 4 and live.counters.frames_skipped == 3
    assert "expected 240x320" in live.counters.last_skip_reason
    rgb = cv2.cvtColor(good, cv2.COLOR_BGR2RGB)
    (result,) = live.on_image(0.4, "rgb8", H, W, W * 3, rgb.tobytes())
    np.testing.assert_array_equal(result.frame, good)     # rgb8 arrives as the same BGR frame


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"trigger": "sometimes"}, r"trigger = 'sometimes' is not a known trigger; use one of press, contact, continuous"),
    ({"confidence_threshold": 1.5}, r"confidence_threshold = 1.5 is outside the allowed range \[0.0, 1.0\]"),
    ({"hold_window_s": 0.0}, "hold_window_s"),
    ({"reference_file": "/nonexistent/bg.png"}, "reference_file"),
])
def test_bad_settings_are_refused_with_the_parameter_and_its_range(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ClassifierConfig(model_path="m.onnx", **kwargs)


def test_frames_of_a_hold_window_that_arrive_after_retracting_still_count(model_path: Path) -> None:
    live = _live(model_path, hold_window_s=0.5, max_frames_per_press=50, reference_frames=1)
    rng = np.random.default_rng(6)
    _start_cycle(live, rng, press_s=1.0)
    live.on_frame(StampedFrame(1.1, _frame(rng, 1.0)))
    live.on_state("retracting", 1.3)                             # hold shorter than the window: it ends at 1.3 s
    for t in (1.2, 1.25, 1.35, 1.4):                             # late frames, two inside, two after the window
        live.on_frame(StampedFrame(t, _frame(rng, 1.0)))
    (result,) = live.on_state("done", 3.0)
    assert result.frames == 3 and result.presses == 1
    assert live.counters.presses_without_frames == 0
