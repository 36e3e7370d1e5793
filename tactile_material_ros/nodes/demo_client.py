"""demo_client: palpates every object of the scene through the running graph and writes the report.

Started by ``python -m tactile_material_ros.demo`` next to bringup. With ``--load-model`` it first
makes the running classifier load that model (its ``model_path`` parameter: no restart). For each object it sets
the palpation node's ``target`` parameter, calls ``palpation/palpate``, and records what the
graph publishes meanwhile: the label and probabilities, the presses with the DIGIT frame of
each hold window, the force trace, the palpation states, the classifier's overlay and the
sensor's no-contact frame (the median of the first frames while the arm approaches, as the
classifier takes its own), which the report's Grad-CAM / DFF figures subtract.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from geometry_msgs.msg import WrenchStamped
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import GetParameters, SetParameters
from rclpy.executors import MultiThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.utilities import remove_ros_args
from sensor_msgs.msg import Image
from std_msgs.msg import Float32MultiArray, String
from std_srvs.srv import Trigger

from tactile_material_ros.demo.records import PressRecord, TargetRecord
from tactile_material_ros.demo.report import format_table, write_report
from tactile_material_ros.inference.live_classifier import ReferenceFrame
from tactile_material_ros.inference.raw_image import ImageFormatError, frame_from_fields
from tactile_material_ros.nodes.node_support import SENSOR_QOS, STATE_QOS
from tactile_material_ros.sim.scene import load_scene

# best effort subscribers match reliable and best-effort publishers alike
ANY_QOS = QoSProfile(depth=50, reliability=ReliabilityPolicy.BEST_EFFORT)
FRAME_DELAY_S = 0.25          # the recorded frame of a press: the first one this long after its stamp
REFERENCE_FRAMES = 5          # frames while approaching whose median is the no-contact reference
LABEL_WAIT_S = 15.0           # after the palpate answer, how long a label may still take
READY_TIMEOUT_S = 90.0


def _seconds(stamp: Any) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def _image_frame(msg: Image) -> np.ndarray | None:
    try:
        return frame_from_fields(msg.encoding, msg.height, msg.width, msg.step, msg.data)
    except ImageFormatError:
        return None


class DemoClient(Node):
    def __init__(self, palpation_node: str = "ur_palpation_node",
                 classifier_node: str = "material_classifier_node", record_frames: bool = True,
                 **node_kwargs: Any) -> None:
        """``record_frames``: subscribe to the DIGIT images for the report's pictures and explanations
        (off for a client that only wants labels and timings, like bench/bench_press_mode.py)."""
        super().__init__("demo_client", **node_kwargs)
        self._lock = threading.Lock()
        self._record: TargetRecord | None = None
        self._start_s = 0.0
        self._pending_frames: list[PressRecord] = []
        self._reference = ReferenceFrame(REFERENCE_FRAMES)  # the classifier's own median-of-N capture
        self.create_subscription(String, "material_label", self._on_label, ANY_QOS)
        self.create_subscription(Float32MultiArray, "material_probabilities", self._on_probabilities, ANY_QOS)
        self.create_subscription(String, "material_result", self._on_result, ANY_QOS)
        self.create_subscription(Image, "material_classifier/overlay", self._on_overlay, ANY_QOS)
        self.create_subscription(WrenchStamped, "palpation/press", self._on_press, ANY_QOS)
        self.create_subscription(WrenchStamped, "palpation/wrench", self._on_wrench, ANY_QOS)
        self.create_subscription(String, "palpation/state", self._on_state, STATE_QOS)
        if record_frames:
            self.create_subscription(Image, "digit/image_raw", self._on_image, SENSOR_QOS)
        self.palpate_client = self.create_client(Trigger, "palpation/palpate")
        self.arm_parameters_client = self.create_client(SetParameters, f"/{palpation_node}/set_parameters")
        self.classifier_parameters_client = self.create_client(GetParameters, f"/{classifier_node}/get_parameters")
        self.classifier_set_client = self.create_client(SetParameters, f"/{classifier_node}/set_parameters")

    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    # --- callbacks (executor thread) ----------------------------------------------------
    def _with_record(self, update: Callable[[TargetRecord], None]) -> None:
        with self._lock:
            if self._record is not None:
                update(self._record)

    def _on_label(self, msg: String) -> None:
        def update(r: TargetRecord) -> None:
            if r.label is None:
                r.label, r.cycle_s = msg.data, self._now_s() - self._start_s
        self._with_record(update)

    def _on_result(self, msg: String) -> None:
        reason = str(json.loads(msg.data).get("reason", ""))

        def update(r: TargetRecord) -> None:
            if not r.reason:
                r.reason = reason
        self._with_record(update)

    def _on_probabilities(self, msg: Float32MultiArray) -> None:
        def update(r: TargetRecord) -> None:
            if r.probabilities is None:
                r.probabilities = np.asarray(msg.data, dtype=np.float64)
        self._with_record(update)

    def _on_overlay(self, msg: Image) -> None:
        frame, stamp = _image_frame(msg), _seconds(msg.header.stamp)

        def update(r: TargetRecord) -> None:
            r.overlay, r.overlay_stamp_s = frame, stamp
        self._with_record(update)

    def _on_press(self, msg: WrenchStamped) -> None:
        f = msg.wrench.force
        press = PressRecord(_seconds(msg.header.stamp), float(np.linalg.norm([f.x, f.y, f.z])), None)

        def update(r: TargetRecord) -> None:
            r.presses.append(press)
            self._pending_frames.append(press)
        self._with_record(update)

    def _on_wrench(self, msg: WrenchStamped) -> None:
        f = msg.wrench.force
        sample = (_seconds(msg.header.stamp) - self._start_s, float(np.linalg.norm([f.x, f.y, f.z])))
        self._with_record(lambda r: r.force_trace.append(sample))

    def _on_state(self, msg: String) -> None:
        def update(r: TargetRecord) -> None:
            r.states.append((self._now_s() - self._start_s, msg.data))
            if msg.data == "approaching" and r.reference is None:
                self._reference.capture_next("approaching")
        self._with_record(update)

    def _collect_reference(self, msg: Image) -> None:
        """Called with the lock held: the median of the first frames after `approaching`."""
        if not self._reference.capturing or self._record is None:
            return
        frame = _image_frame(msg)
        if frame is not None:
            self._reference.offer(frame)
        if not self._reference.capturing:
            self._record.reference = self._reference.image

    def _on_image(self, msg: Image) -> None:
        stamp = _seconds(msg.header.stamp)
        with self._lock:
            self._collect_reference(msg)
            due = [p for p in self._pending_frames if stamp >= p.stamp_s + FRAME_DELAY_S]
            if not due:
                return
            frame = _image_frame(msg)
            for press in due:
                press.frame = frame
                self._pending_frames.remove(press)

    # --- the sequence (main thread) -----------------------------------------------------
    def _wait(self, future: Any, timeout_s: float, what: str) -> Any:
        deadline = time.monotonic() + timeout_s
        while not future.done():
            if time.monotonic() > deadline:
                raise TimeoutError(f"no answer from {what} within {timeout_s:.0f} s")
            time.sleep(0.02)
        return future.result()

    def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> None:
        for client in (self.palpate_client, self.arm_parameters_client, self.classifier_parameters_client):
            if not client.wait_for_service(timeout_sec=timeout_s):
                raise TimeoutError(f"service {client.srv_name} did not appear within {timeout_s:.0f} s: "
                                   "is the graph running (see demo_report/graph.log)?")

    def classifier_parameters(self, names: list[str]) -> list[Any]:
        """Values of the classifier's parameters ``names`` (rcl_interfaces ParameterValue each)."""
        answer = self._wait(self.classifier_parameters_client.call_async(GetParameters.Request(names=names)), 10.0,
                            "the classifier's get_parameters")
        return list(answer.values)

    def class_names(self) -> list[str]:
        return list(self.classifier_parameters(["class_names"])[0].string_array_value)

    def load_model(self, model: Path) -> None:
        """Make the running classifier use ``model`` (its parameter model_path); RuntimeError with its reason if
        it refuses."""
        value = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=str(model))
        answer = self._wait(self.classifier_set_client.call_async(SetParameters.Request(
            parameters=[Parameter(name="model_path", value=value)])), 60.0, "the classifier's set_parameters")
        if not answer.results[0].successful:
            raise RuntimeError(f"the classifier refused {model}: {answer.results[0].reason}")

    def palpate_target(self, target: str, material: str, timeout_s: float) -> tuple[TargetRecord, float]:
        """One cycle on ``target``; returns the record and the clock time of the palpate request."""
        record = TargetRecord(target, material)
        value = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=target)
        answer = self._wait(self.arm_parameters_client.call_async(SetParameters.Request(
            parameters=[Parameter(name="target", value=value)])), 10.0, "the palpation node's set_parameters")
        if not answer.results[0].successful:
            record.error = f"target {target!r} refused: {answer.results[0].reason}"
            return record, self._now_s()
        with self._lock:
            self._record, self._start_s, self._pending_frames = record, self._now_s(), []
            self._reference = ReferenceFrame(REFERENCE_FRAMES)
        start = self._start_s
        try:
            response = self._wait(self.palpate_client.call_async(Trigger.Request()), timeout_s, "palpation/palpate")
            if not response.success:
                record.error = f"palpation failed: {response.message}"
            deadline = time.monotonic() + LABEL_WAIT_S
            while time.monotonic() < deadline and (record.label is None or record.overlay is None):
                time.sleep(0.05)
            if record.label is None and not record.error:
                record.error = f"no material_label within {LABEL_WAIT_S:.0f} s of the end of the cycle"
        except TimeoutError as exc:
            record.error = str(exc)
        finally:
            with self._lock:
                self._record = None
        return record, start


def run_demo(out_dir: Path, scene_path: str | None, cycle_timeout_s: float, model_note: str,
             model: Path | None = None, load_model: Path | None = None) -> int:
    scene = load_scene(scene_path)
    node = DemoClient()
    executor = MultiThreadedExecutor(num_threads=2)
    executor.add_node(node)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    log = node.get_logger()
    try:
        node.wait_ready()
        if load_model is not None:
            node.load_model(load_model)
            log.info(f"the classifier now runs {load_model}, loaded without a restart")
            model = load_model
        names = node.class_names()
        records, starts = [], []
        for i, obj in enumerate(scene.objects):
            log.info(f"palpating {obj.name} ({i + 1}/{len(scene.objects)})")
            record, start = node.palpate_target(obj.name, obj.material, cycle_timeout_s)
            log.info(f"{obj.name}: {record.label} ({100 * record.confidence:.1f} %) {record.error}")
            records.append(record)
            starts.append(start)
        index = write_report(records, names, out_dir, model_note, starts, model)
        sys.stdout.write("\n" + format_table(records) + "\n\n")
        sys.stdout.write(f"{sum(r.correct for r in records)} of {len(records)} correct; report: {index}\n")
        sys.stdout.flush()
        return 0 if all(r.labelled for r in records) else 1
    except (TimeoutError, RuntimeError) as exc:
        log.error(str(exc))
        return 1
    finally:
        executor.shutdown()
        node.destroy_node()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    parser = argparse.ArgumentParser(prog="demo_client", description=__doc__)
    parser.add_argument("--out", type=Path, default=Path("demo_report"), help="report folder")
    parser.add_argument("--scene", default=None, help="scene YAML (default: the four-ball scene)")
    parser.add_argument("--cycle-timeout", type=float, default=120.0, help="seconds one palpation may take")
    parser.add_argument("--model-note", default="", help="a line about the model for the report")
    parser.add_argument("--model", type=Path, default=None,
                        help="the graph's ONNX model: the report explains its presses with the PyTorch weights "
                             "exported beside it (default: the bundled model)")
    parser.add_argument("--load-model", type=Path, default=None,
                        help="load this model into the running classifier (parameter model_path) before palpating")
    args = parser.parse_args(remove_ros_args(argv)[1:])
    rclpy.init(args=argv)
    try:
        return run_demo(args.out, args.scene, args.cycle_timeout, args.model_note, args.model, args.load_model)
    except KeyboardInterrupt:
        return 130
    finally:
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
