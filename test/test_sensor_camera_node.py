"""digit_camera_node as a process: frame rate, message format, simulated contact, reference, start-up refusals.

The node runs as a separate process on a random ROS_DOMAIN_ID (``ros_env``); this test
process subscribes on the same domain and waits for messages with timeouts.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped, WrenchStamped
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from sensor_msgs.msg import Image
from std_srvs.srv import Trigger

from tactile_material_ros.nodes.node_support import EXIT_STARTUP_ERROR, SENSOR_QOS
from tactile_material_ros.sim.scene import load_scene

PYTHON = sys.executable
FPS = 30


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([PYTHON, "-m", "tactile_material_ros.nodes.digit_camera_node", "--ros-args", *args],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _spin_until(executor: SingleThreadedExecutor, done: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"waited {timeout_s} s for {what}"
        executor.spin_once(timeout_sec=0.05)


def _frame(msg: Image) -> np.ndarray:
    return np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, 3)


def test_bad_parameters_stop_the_node_at_startup_naming_them(ros_env: dict[str, str]) -> None:
    cases = {
        "source = 'usb' is not a known frame source": ["-p", "source:=usb"],
        "fps = 45 is not a DIGIT QVGA frame rate": ["-p", "fps:=45"],
        "DIGIT D00042 was not found": ["-p", "source:=digit", "-p", "serial:=D00042"],
        "fps has the wrong type": ["-p", "fps:=30.0"],
    }
    procs = {expected: _start(args, ros_env) for expected, args in cases.items()}
    try:
        for expected, proc in procs.items():
            out, _ = proc.communicate(timeout=60)
            assert proc.returncode == EXIT_STARTUP_ERROR, out
            assert expected in out, out
            if "D00042" in expected:  # the real digit_interface, no device plugged in: the fix is named
                assert "udev" in out and "USB 2.0" in out, out
    finally:
        for proc in procs.values():
            proc.kill()


def test_the_camera_publishes_at_its_rate_renders_contact_and_saves_a_reference(
        ros_env: dict[str, str], tmp_path: Path) -> None:
    reference_path = tmp_path / "ref" / "no_contact.png"
    proc = _start(["-p", f"fps:={FPS}", "-p", f"reference_path:={reference_path}", "-p", "background_seed:=3"],
                  ros_env)
    context = rclpy.context.Context()
    rclpy.init(context=context, domain_id=int(ros_env["ROS_DOMAIN_ID"]))
    probe = Node("probe", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(probe)
    frames: list[Image] = []
    statuses: list[dict[str, str]] = []
    probe.create_subscription(Image, "digit/image_raw", frames.append, SENSOR_QOS)
    probe.create_subscription(DiagnosticArray, "/diagnostics", lambda m: statuses.extend(
        {kv.key: kv.value for kv in s.values} for s in m.status if "digit_camera_node" in s.name), 10)
    pose_pub = probe.create_publisher(PoseStamped, "palpation/tcp_pose", SENSOR_QOS)
    wrench_pub = probe.create_publisher(WrenchStamped, "palpation/wrench", SENSOR_QOS)
    capture = probe.create_client(Trigger, "digit/capture_reference")
    try:
        _spin_until(executor, lambda: len(frames) >= 3, 30.0, "the first frames on digit/image_raw")
        # rate, from the capture stamps of 2 s of frames
        first = len(frames)
        _spin_until(executor, lambda: len(frames) >= first + 2 * FPS, 10.0, f"{2 * FPS} more frames")
        stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in frames[first:]]
        rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
        assert 0.85 * FPS <= rate <= 1.1 * FPS, rate
        msg = frames[-1]
        assert (msg.encoding, msg.height, msg.width, msg.step, len(msg.data)) == ("bgr8", 320, 240, 720, 320 * 240 * 3)
        assert msg.header.frame_id == "digit_link"
        assert abs(stamps[-1] - time.time()) < 2.0      # capture time on the wall clock ROS stamps use
        no_contact = _frame(msg).astype(np.float32)

        # the no-contact reference: the median of the next frames, saved where the parameter says
        assert capture.wait_for_service(timeout_sec=10.0)
        future = capture.call_async(Trigger.Request())
        _spin_until(executor, future.done, 15.0, "digit/capture_reference")
        assert future.result().success, future.result().message
        saved = cv2.imread(str(reference_path))
        assert saved is not None and saved.shape == (320, 240, 3)
        assert np.abs(saved.astype(np.float32) - no_contact).mean() < 3.0

        # simulated contact: the robot's tool 1 mm into the rubber ball, pressing with 20 N
        top = load_scene().get("rubber_ball").top_m
        pose = PoseStamped()
        pose.header.frame_id = "base"
        pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = float(top[0]), float(top[1]), float(top[2] - 0.001)
        pose.pose.orientation.x = 1.0  # tool Z pointing down (Rx(pi))
        wrench = WrenchStamped()
        wrench.wrench.force.z = -20.0

        def pressed() -> bool:
            pose_pub.publish(pose)
            wrench_pub.publish(wrench)
            return bool(frames) and np.abs(_frame(frames[-1]).astype(np.float32) - no_contact).mean() > 8.0

        _spin_until(executor, pressed, 10.0, "a frame showing the pressed ball")
        _spin_until(executor, lambda: any(s.get("connected") == "True" for s in statuses), 5.0, "/diagnostics")
        status = statuses[-1]
        assert status["source"] == "sim" and int(status["frames"]) > 2 * FPS
        assert 0.8 * FPS <= float(status["rate_hz"]) <= 1.1 * FPS
        assert "dropped_frames" in status
        assert proc.poll() is None, "the node died"
    finally:
        proc.kill()
        proc.wait(timeout=10)
        executor.shutdown()
        probe.destroy_node()
        context.try_shutdown()
