"""material_classifier_node: malformed images, start-up refusals, continuous mode over ROS.

The fuzz test builds the node in this process and calls its image subscription callback with
real sensor_msgs/Image messages (fast: 1,200 messages in about a second); the other tests
start the node as a separate process on a random ROS_DOMAIN_ID.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from model_fixture import make_test_model
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.subscription import MessageInfo
from sensor_msgs.msg import Image
from std_msgs.msg import Float32MultiArray, String

from tactile_material_ros.inference.model_card import ModelCard
from tactile_material_ros.nodes.material_classifier_node import MaterialClassifierNode
from tactile_material_ros.nodes.node_support import EXIT_STARTUP_ERROR, RESULT_QOS, SENSOR_QOS

W, H = 240, 320
PYTHON = sys.executable


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_test_model(tmp_path_factory.mktemp("model"))


def _frame(rng: np.random.Generator, contact: bool = False) -> np.ndarray:
    y, x = np.mgrid[0:H, 0:W].astype(np.float32)
    img = np.stack([90 + 40 * x / W, 110 - 30 * y / H, 100 + 20 * np.sin(y / 40)], axis=2)
    if contact:
        img[(x - 120) ** 2 + (y - 160) ** 2 < 900] += (60, -40, 30)
    return np.clip(img + rng.normal(0, 5, img.shape), 0, 255).astype(np.uint8)


def _image(encoding: str, height: int, width: int, step: int, data: bytes, stamp_s: float = 0.0) -> Image:
    msg = Image(encoding=encoding, height=height, width=width, step=step)
    msg.header.stamp.sec, msg.header.stamp.nanosec = int(stamp_s), int((stamp_s % 1) * 1e9)
    msg.data = data
    return msg


def _malformed_images(rng: random.Random, count: int) -> Iterator[Image]:
    """Messages that each break the contract in one randomly chosen way."""
    good_bytes = {3: bytes(W * H * 3), 4: bytes(W * H * 4)}
    for i in range(count):
        kind = i % 6
        if kind == 0:    # an encoding the classifier cannot read
            enc = rng.choice(["mono8", "mono16", "16UC1", "32FC1", "yuv422", "bayer_rggb8", "BGR8", "", "jpeg"])
            yield _image(enc, H, W, W * 3, good_bytes[3])
        elif kind == 1:  # a consistent image of the wrong size
            h, w = rng.randint(1, 400), rng.randint(1, 400)
            if (w, h) == (W, H):
                w += 1
            yield _image("bgr8", h, w, w * 3, bytes(w * h * 3))
        elif kind == 2:  # a step shorter than a row
            step = rng.randint(0, W * 3 - 1)
            yield _image("rgb8", H, W, step, bytes(step * H))
        elif kind == 3:  # truncated or overlong data
            cut = rng.randint(1, W * H * 3)
            data = good_bytes[3][: W * H * 3 - cut] if rng.random() < 0.7 else good_bytes[3] + bytes(cut)
            yield _image("bgr8", H, W, W * 3, data)
        elif kind == 4:  # a padded step but unpadded data
            enc, bpp = rng.choice([("bgr8", 3), ("bgra8", 4), ("rgba8", 4)])
            yield _image(enc, H, W, W * bpp + rng.randint(1, 64), good_bytes[bpp])
        else:            # zero or absurd sizes
            h, w = rng.choice([(0, W), (H, 0), (0, 0), (100000, W), (H, 100000)])
            yield _image("bgr8", h, w, w * 3, b"")


@pytest.fixture
def ros_context() -> Iterator[rclpy.context.Context]:
    context = rclpy.context.Context()
    rclpy.init(context=context, domain_id=random.randint(101, 200))
    try:
        yield context
    finally:
        context.try_shutdown()


def _spin_until(executor: SingleThreadedExecutor, done: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout_s} s for {what}")
        executor.spin_once(timeout_sec=0.05)


def _info(sequence: int) -> MessageInfo:
    """What rmw hands the callback with a message: received now, the publisher's sequence number."""
    return MessageInfo(source_timestamp=time.time_ns(), received_timestamp=time.time_ns(),
                       publication_sequence_number=sequence, reception_sequence_number=None, publisher_gid=None)


def test_a_thousand_malformed_images_are_counted_skipped_and_valid_frames_still_classified(
        model_path: Path, ros_context: rclpy.context.Context) -> None:
    node = MaterialClassifierNode(context=ros_context, parameter_overrides=[
        Parameter("model_path", value=str(model_path)),
        Parameter("trigger", value="continuous"),
        Parameter("reference_frames", value=1),
    ])
    probe = Node("probe", context=ros_context)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    executor.add_node(probe)
    labels: list[str] = []
    diagnostics: list[dict[str, str]] = []
    probe.create_subscription(String, "material_label", lambda m: labels.append(m.data), RESULT_QOS)
    probe.create_subscription(DiagnosticArray, "/diagnostics",
                              lambda m: diagnostics.extend({kv.key: kv.value for kv in s.values} for s in m.status), 10)
    try:
        rng = np.random.default_rng(0)
        node._on_image(_image("bgr8", H, W, W * 3, _frame(rng).tobytes()), _info(1))   # the start-up reference
        count = 1200
        for k, msg in enumerate(_malformed_images(random.Random(1), count)):
            node._on_image(msg, _info(k + 2))
        counters = node.live.counters
        assert counters.frames_skipped == count
        assert counters.frames_received == count + 1
        assert counters.frames_classified == 0
        # valid frames after the storm, one of them padded the way sensor_msgs/Image allows
        frame = _frame(rng, contact=True)
        padded = np.zeros((H, W * 3 + 16), np.uint8)
        padded[:, : W * 3] = frame.reshape(H, W * 3)
        node._on_image(_image("bgr8", H, W, W * 3 + 16, padded.tobytes(), 1.0), _info(count + 2))
        _spin_until(executor, lambda: bool(labels), 5.0, "a label after the malformed images")
        assert counters.frames_classified == 1
        node._publish_diagnostics()
        _spin_until(executor, lambda: bool(diagnostics), 5.0, "/diagnostics")
        assert diagnostics[-1]["frames_skipped"] == str(count)
        assert diagnostics[-1]["frames_classified"] == "1"
        assert diagnostics[-1]["model_sha256"] == ModelCard.load(model_path.with_suffix(".json")).sha256
    finally:
        executor.shutdown()
        node.destroy_node()
        probe.destroy_node()


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([PYTHON, "-m", "tactile_material_ros.nodes.material_classifier_node", "--ros-args",
                             *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_the_node_refuses_to_start_on_a_tampered_model_a_bad_trigger_or_threshold(
        model_path: Path, tmp_path: Path, ros_env: dict[str, str]) -> None:
    tampered = tmp_path / "tampered.onnx"
    tampered.write_bytes(model_path.read_bytes() + b"\0")
    (tmp_path / "tampered.json").write_text(model_path.with_suffix(".json").read_text())
    cases = {
        "does not match its card: sha256 is": ["-p", f"model_path:={tampered}"],
        "trigger = 'poke' is not a known trigger": ["-p", f"model_path:={model_path}", "-p", "trigger:=poke"],
        "confidence_threshold = 1.2 is outside the allowed range [0.0, 1.0]":
            ["-p", f"model_path:={model_path}", "-p", "confidence_threshold:=1.2"],
    }
    procs = {expected: _start(args, ros_env) for expected, args in cases.items()}
    try:
        for expected, proc in procs.items():
            out, _ = proc.communicate(timeout=30)
            assert proc.returncode == EXIT_STARTUP_ERROR, out
            assert expected in out, out
    finally:
        for proc in procs.values():
            proc.kill()


def test_over_ros_malformed_frames_are_skipped_and_good_ones_labelled(
        model_path: Path, ros_env: dict[str, str]) -> None:
    proc = _start(["-p", f"model_path:={model_path}", "-p", "trigger:=continuous", "-p", "reference_frames:=1",
                   "-p", "continuous_rate_hz:=10.0"], ros_env)
    context = rclpy.context.Context()
    rclpy.init(context=context, domain_id=int(ros_env["ROS_DOMAIN_ID"]))
    probe = Node("probe", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(probe)
    labels: list[str] = []
    probabilities: list[Float32MultiArray] = []
    skipped: list[int] = []
    probe.create_subscription(String, "material_label", lambda m: labels.append(m.data), RESULT_QOS)
    probe.create_subscription(Float32MultiArray, "material_probabilities", probabilities.append, RESULT_QOS)
    no_contact_rates: list[float] = []
    probe.create_subscription(DiagnosticArray, "/diagnostics", lambda m: (skipped.extend(
        int(kv.value) for s in m.status for kv in s.values if kv.key == "frames_skipped"), no_contact_rates.extend(
        float(kv.value) for s in m.status for kv in s.values if kv.key == "rate_no_contact")), 10)
    images = probe.create_publisher(Image, "digit/image_raw", SENSOR_QOS)
    try:
        _spin_until(executor, lambda: images.get_subscription_count() > 0, 20.0, "the node to subscribe")
        good = _image("rgb8", H, W, W * 3, cv2.cvtColor(_frame(np.random.default_rng(2)), cv2.COLOR_BGR2RGB).tobytes())

        def stream_until(done: Callable[[], bool], what: str) -> None:
            deadline = time.monotonic() + 20.0
            while not done():
                assert time.monotonic() < deadline, f"waited 20 s for {what} (skipped {skipped[-3:]}, {len(labels)} labels)"
                good.header.stamp = probe.get_clock().now().to_msg()  # a capture time, as a camera stamps it
                images.publish(good)
                executor.spin_once(timeout_sec=0.05)

        # best-effort frames sent before both ends have matched may be lost: first see a label
        stream_until(lambda: bool(labels), "a first label")
        for msg in _malformed_images(random.Random(3), 5):
            # continuous mode keeps one waiting frame: paced so the node takes each before the next
            images.publish(msg)
            deadline = time.monotonic() + 0.15
            while time.monotonic() < deadline:
                executor.spin_once(timeout_sec=0.02)
        before = len(labels)
        stream_until(lambda: len(labels) > before and bool(skipped) and skipped[-1] == 5,
                     "5 skipped frames in /diagnostics and a label after them")
        # the reference is the first good frame itself: a free gel, so no material, and no probabilities
        assert set(labels) == {"no_contact"}, labels[:5]
        assert not probabilities, "a no_contact result must not publish material probabilities"
        stream_until(lambda: bool(no_contact_rates) and no_contact_rates[-1] == 1.0, "rate_no_contact 1.0 in /diagnostics")
        assert proc.poll() is None, "the node died"
    finally:
        proc.kill()
        proc.wait(timeout=10)
        executor.shutdown()
        probe.destroy_node()
        context.try_shutdown()


@pytest.mark.parametrize(("trigger", "subscribes_pose"), [("press", True), ("contact", False), ("continuous", False)])
def test_only_the_press_trigger_subscribes_to_the_arm_s_pose(
        model_path: Path, ros_context: rclpy.context.Context, trigger: str, subscribes_pose: bool) -> None:
    node = MaterialClassifierNode(context=ros_context, parameter_overrides=[
        Parameter("model_path", value=str(model_path)), Parameter("trigger", value=trigger)])
    try:
        topics = {subscription.topic_name for subscription in node.subscriptions}
        assert "/digit/image_raw" in topics
        assert ("/palpation/tcp_pose" in topics) == subscribes_pose
    finally:
        node.destroy_node()
