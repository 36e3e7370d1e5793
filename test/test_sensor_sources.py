"""Frame sources, the camera config and the capture loop (no ROS graph).

The DIGIT tests replace only ``digit_interface`` (the hardware library) with a stand-in
module in ``sys.modules``: everything above that boundary is the real code.
"""

from __future__ import annotations

import sys
import threading
import time
import types
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from tactile_material_ros.sensing.camera_config import CameraConfig, make_source
from tactile_material_ros.sensing.capture_loop import CaptureLoop, CaptureTimeout
from tactile_material_ros.sensing.digit_source import DigitSource
from tactile_material_ros.sensing.frame_source import FramePacer, FrameSource, FrameSourceError, SourceInfo
from tactile_material_ros.sensing.replay_source import ReplaySource
from tactile_material_ros.sensing.sim_source import SimSource, normal_force_n, tool_yaw_rad
from tactile_material_ros.sim.digit_renderer import DigitRenderer
from tactile_material_ros.sim.scene import load_scene

# --------------------------------------------------------------------------- config


@pytest.mark.parametrize("overrides, names", [
    ({"source": "usb"}, ["source = 'usb'", "digit, replay, sim"]),
    ({"fps": 45}, ["fps = 45", "60, 30"]),
    ({"resolution": "VGA", "fps": 60}, ["fps = 60", "VGA", "30, 15"]),
    ({"resolution": "4K"}, ["resolution = '4K'", "QVGA"]),
    ({"intensity": 16}, ["intensity = 16", "[0, 15]"]),
    ({"source": "digit"}, ["serial is empty", "list_digits"]),
    ({"source": "replay", "replay_path": "/nonexistent/frames"}, ["replay_path", "/nonexistent/frames"]),
    ({"noise_sigma": -1.0}, ["noise_sigma = -1.0"]),
])
def test_a_bad_camera_value_is_refused_with_its_name_value_and_fix(overrides: dict, names: list[str]) -> None:
    with pytest.raises(ValueError) as err:
        CameraConfig(**overrides)
    for name in names:
        assert name in str(err.value)
    assert "Fix:" in str(err.value)


def test_every_source_kind_is_a_frame_source(tmp_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((320, 240, 3), np.uint8))
    configs = [CameraConfig(source="sim"), CameraConfig(source="replay", replay_path=str(tmp_path)),
               CameraConfig(source="digit", serial="D00001")]
    for config in configs:
        assert isinstance(make_source(config), FrameSource)


# --------------------------------------------------------------------------- DIGIT


def _fake_digit_interface(serials: list[str], frames: list[np.ndarray] | None = None) -> types.ModuleType:
    """A stand-in for the digit_interface package with the 0.2.1 API and udev-less discovery."""
    module = types.ModuleType("digit_interface")
    calls: list[tuple] = []

    class DigitHandler:
        @staticmethod
        def list_digits() -> list[dict[str, str]]:
            return [{"serial": s, "dev_name": f"/dev/video{i}"} for i, s in enumerate(serials)]

    class Digit:
        STREAMS = {"VGA": {"resolution": {"width": 640, "height": 480}, "fps": {"30fps": 30, "15fps": 15}},
                   "QVGA": {"resolution": {"width": 320, "height": 240}, "fps": {"60fps": 60, "30fps": 30}}}

        def __init__(self, serial: str) -> None:
            if serial not in serials:
                raise Exception(f"Cannot find DIGIT with serial {serial}")  # what digit_interface raises
            self.serial = serial
            self._frames = list(frames or [])

        def connect(self) -> None:
            calls.append(("connect",))

        def set_resolution(self, stream: dict) -> None:
            calls.append(("set_resolution", stream["resolution"]["width"]))

        def set_fps(self, fps: int) -> None:
            calls.append(("set_fps", fps))

        def set_intensity(self, intensity: int) -> int:
            calls.append(("set_intensity", intensity))
            return intensity

        def get_frame(self) -> np.ndarray:
            if not self._frames:
                raise Exception(f"Unable to grab frame from {self.serial}")
            return self._frames.pop(0)

        def disconnect(self) -> None:
            calls.append(("disconnect",))

    module.Digit, module.DigitHandler, module.calls = Digit, DigitHandler, calls  # type: ignore[attr-defined]
    return module


def test_digit_without_the_library_names_the_serial_and_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "digit_interface", None)  # makes `import digit_interface` fail
    with pytest.raises(FrameSourceError) as err:
        DigitSource("D20001").open()
    assert "D20001" in str(err.value) and "pip install digit-interface" in str(err.value)


def test_digit_not_found_names_the_serial_the_connected_ones_and_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "digit_interface", _fake_digit_interface(["D77777"]))
    with pytest.raises(FrameSourceError) as err:
        DigitSource("D20001").open()
    message = str(err.value)
    for needed in ("D20001", "connected DIGITs: D77777", "udev", "USB 2.0", "plugdev", "data cable"):
        assert needed in message, needed


def test_digit_streams_with_the_configured_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    frames = [np.full((320, 240, 3), i, np.uint8) for i in range(3)]
    fake = _fake_digit_interface(["D20001"], frames)
    monkeypatch.setitem(sys.modules, "digit_interface", fake)
    source = DigitSource("D20001", resolution="QVGA", fps=30, intensity=9)
    source.open()
    before = time.time()
    frame, stamp = source.read()
    assert frame.shape == (320, 240, 3) and frame[0, 0, 0] == 0 and before <= stamp <= time.time()
    source.read(), source.read()
    with pytest.raises(FrameSourceError, match="D20001 stopped delivering frames"):
        source.read()
    source.close()
    assert fake.calls == [("connect",), ("set_resolution", 320), ("set_fps", 30), ("set_intensity", 9),
                          ("disconnect",)]
    assert source.info == SourceInfo("digit", "D20001", 240, 320, 30.0)


# --------------------------------------------------------------------------- replay


def _numbered(i: int, size: tuple[int, int] = (320, 240)) -> np.ndarray:
    frame = np.zeros((*size, 3), np.uint8)
    frame[:] = (40 * i, 255 - 40 * i, 100)
    return frame


def test_replay_of_a_folder_loops_in_name_order_at_its_rate(tmp_path: Path) -> None:
    for i in (2, 0, 1):
        cv2.imwrite(str(tmp_path / f"frame_{i:02d}.png"), _numbered(i))
    (tmp_path / "notes.txt").write_text("not a frame")
    source = ReplaySource(tmp_path, rate_hz=50.0)
    source.open()
    start = time.monotonic()
    order = [int(source.read()[0][0, 0, 0]) // 40 for _ in range(8)]
    elapsed = time.monotonic() - start
    source.close()
    assert order == [0, 1, 2, 0, 1, 2, 0, 1]
    assert elapsed >= 7 / 50.0 * 0.9          # paced: 7 periods between 8 frames
    assert source.info.width == 240 and source.info.height == 320


def test_replay_of_a_video_loops_and_turns_landscape_frames_to_portrait(tmp_path: Path) -> None:
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (320, 240))  # landscape, as the sensor
    for i in range(3):
        landscape = np.ascontiguousarray(_numbered(i, (240, 320)))
        landscape[:20, :40] = 255  # a marker in the landscape top-left corner
        writer.write(landscape)
    writer.release()
    source = ReplaySource(path, rate_hz=200.0)
    source.open()
    frames = [source.read()[0] for _ in range(7)]
    source.close()
    assert all(f.shape == (320, 240, 3) for f in frames)
    greens = [round((255 - int(np.median(f[100:200, 100:200, 1]))) / 40) for f in frames]
    assert greens == [0, 1, 2, 0, 1, 2, 0]
    # digit_interface's portrait turn (transpose, then flip rows) puts the top-left corner at the bottom-left
    assert frames[0][-30:, :10].mean() > 200 and frames[0][:30, :10].mean() < 200


def test_replay_refuses_an_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(FrameSourceError, match="holds no images"):
        ReplaySource(tmp_path, 30.0).open()


# --------------------------------------------------------------------------- simulation


def test_pose_and_force_conversions() -> None:
    # tool pointing down (Rx(pi)), turned by a about its own Z: q = (cos(a/2), -sin(a/2) ... ) in x, y, z, w
    for a in (0.0, 0.7, -1.2):
        q = (np.cos(a / 2), -np.sin(a / 2), 0.0, 0.0)  # Rx(pi) Rz(a) as (x, y, z, w)
        assert tool_yaw_rad(q) == pytest.approx(-a, abs=1e-9)
    assert normal_force_n((1.0, -2.0, -24.0)) == 24.0
    with pytest.raises(ValueError):
        tool_yaw_rad((0, 0, 0, 0))


def test_sim_source_shows_the_ball_under_the_gel_and_nothing_elsewhere() -> None:
    scene = load_scene()
    renderer = DigitRenderer(scene.library, noise_sigma=2.0)
    source = SimSource(renderer, scene, fps=60.0, seed=0)
    source.open()
    idle, _ = source.read()                      # no state yet: no contact
    assert np.abs(idle.astype(float) - renderer.background()).mean() < 2.5
    top = scene.get("rubber_ball").top_m
    source.set_state(top - [0.0, 0.0, 0.001], tool_yaw_rad=0.0, force_n=0.0)   # 1 mm into the ball, no wrench yet
    touching, stamp = source.read()
    assert np.abs(touching.astype(float) - renderer.background()).mean() > 8.0
    source.set_force(24.0)
    pressed, _ = source.read()
    assert np.abs(pressed.astype(float) - renderer.background()).mean() > np.abs(
        touching.astype(float) - renderer.background()).mean()
    source.set_pose(top + [0.2, 0.0, 0.05], 0.0)  # above the table, away from every ball
    away, _ = source.read()
    assert np.abs(away.astype(float) - renderer.background()).mean() < 2.5
    assert abs(stamp - time.time()) < 1.0


# --------------------------------------------------------------------------- pacing and capture


def test_pacer_keeps_the_rate_and_skips_ticks_it_missed() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(dt: float) -> None:
        slept.append(dt)
        now[0] += dt

    pacer = FramePacer(10.0, clock=lambda: now[0], sleep=sleep)
    pacer.wait()                  # first tick at once
    pacer.wait()                  # then one period later
    assert slept == [pytest.approx(0.1)]
    now[0] += 0.35                # the caller stalls 3.5 periods
    pacer.wait()                  # no burst: the next tick is the next on the grid
    assert now[0] == pytest.approx(0.45) and len(slept) == 1
    pacer.wait()
    assert now[0] == pytest.approx(0.5)


class _ScriptedSource:
    """Capture times that skip two frames after the fifth; then the source stops delivering.

    The first frame waits for ``gate``, so the test decides when streaming starts.
    """

    def __init__(self) -> None:
        self.info = SourceInfo("test", "scripted", 240, 320, 100.0)
        self.stamps = [i * 0.01 for i in range(5)] + [0.07 + i * 0.01 for i in range(10)]  # 50, 60 ms missing
        self.gate = threading.Event()
        self.closed = 0

    def open(self) -> None: ...

    def read(self) -> tuple[np.ndarray, float]:
        if not self.gate.wait(10.0):
            raise FrameSourceError("the test never opened the gate")
        if not self.stamps:
            time.sleep(0.01)
            raise FrameSourceError("scripted source ended")
        stamp = self.stamps.pop(0)
        return np.full((320, 240, 3), int(stamp * 1000) % 256, np.uint8), stamp

    def close(self) -> None:
        self.closed += 1


def _wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout_s} s for {what}"
        time.sleep(0.002)


def test_capture_loop_counts_drops_measures_rate_and_makes_a_reference() -> None:
    source = _ScriptedSource()
    received: list[float] = []
    loop = CaptureLoop(source, lambda frame, stamp: received.append(stamp), rate_hz=100.0)
    loop.start()
    references: list[np.ndarray] = []
    try:
        waiter = threading.Thread(target=lambda: references.append(loop.capture_reference(3, timeout_s=10.0)))
        waiter.start()
        _wait_for(lambda: loop.reference_pending, 5.0, "the reference request")
        source.gate.set()
        waiter.join(10.0)
        _wait_for(lambda: not loop.stats().connected, 5.0, "the scripted source to end")
        stats = loop.stats()
    finally:
        loop.stop()
    assert len(references) == 1
    reference = references[0]
    assert reference.shape == (320, 240, 3) and reference.dtype == np.uint8
    assert reference[0, 0, 0] == 10          # median of the first three frames (stamps 0, 10, 20 ms)
    assert stats.frames == 15 and len(received) == 15
    assert stats.dropped == 2
    assert stats.rate_hz == pytest.approx(14 / 0.16)   # 15 frames from 0 to 160 ms
    assert not stats.connected and "scripted source ended" in stats.last_error
    assert source.closed >= 1


def test_capture_reference_times_out_with_a_clear_message() -> None:
    class Silent:
        info = SourceInfo("test", "silent", 240, 320, 30.0)

        def open(self) -> None: ...

        def read(self) -> tuple[np.ndarray, float]:
            time.sleep(0.02)
            raise FrameSourceError("no frames")

        def close(self) -> None: ...

    loop = CaptureLoop(Silent(), lambda f, t: None, rate_hz=30.0)
    loop.start()
    try:
        with pytest.raises(CaptureTimeout, match="waited 0.3 s for 5 frames from silent"):
            loop.capture_reference(5, timeout_s=0.3)
    finally:
        loop.stop()
