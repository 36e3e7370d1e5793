"""material_classifier_node: tactile frames in, the material out.

A thin shell around :class:`inference.live_classifier.LiveClassifier`: it declares the
parameters, builds the validated config, and translates messages. Subscribes
``digit/image_raw`` (sensor QoS), ``palpation/state`` (reliable, transient local),
``palpation/press`` and, with the press trigger (where the markers go), ``palpation/tcp_pose``;
publishes ``material_label``, ``material_probabilities``, ``material_result`` (the label with its reason, as JSON), ``material_classifier/overlay``,
``material_markers`` and ``/diagnostics``. See README's interface table and docs/classifier.md.

A new model is loaded without a restart by setting ``model_path`` (``ros2 param set
/material_classifier_node model_path /path/taught.onnx``: refused, with the reason, when the model
does not match its card; the old model stays), or by calling ``~/reload_model`` (std_srvs/Trigger:
reads ``model_path`` again, e.g. after ``tactile-material teach`` rewrote it; the answer's message
is JSON with the model path, sha256 and class names). ``class_names`` follows the model.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point, PoseStamped, WrenchStamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.subscription import MessageInfo
from sensor_msgs.msg import Image
from std_msgs.msg import ColorRGBA, Float32MultiArray, MultiArrayDimension, String
from std_srvs.srv import Trigger
from visualization_msgs.msg import Marker, MarkerArray

from tactile_material_ros.inference.contact_detection import ContactConfig
from tactile_material_ros.inference.frame_freshness import Delivery
from tactile_material_ros.inference.live_classifier import (
    Classification,
    ClassifierConfig,
    LiveClassifier,
    model_summary_json,
    result_json,
)
from tactile_material_ros.inference.model_card import ModelIntegrityError
from tactile_material_ros.inference.overlay import draw_overlay, label_colour
from tactile_material_ros.inference.raw_image import fields_from_frame
from tactile_material_ros.inference.result_record import (
    CycleInfo,
    cycle_from_values,
    hypotheses,
    result_level,
    result_values,
)
from tactile_material_ros.nodes.node_support import (
    RESULT_QOS,
    SENSOR_QOS,
    STATE_QOS,
    StartupError,
    create_diagnostics_publisher,
    declare,
    diagnostic_status,
    publish_diagnostics,
    route_core_logging,
    run,
)
from tactile_material_ros.nodes.vision_results import VISION_MSGS, VisionPublishers
from tactile_material_ros.paths import model_file

# the overlay is for viewers: reliable (so both reliable and best-effort subscribers match), newest only
OVERLAY_QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)
MARKER_PLACE_GRID_M = 0.02   # results within this distance replace each other's marker
MARKER_SPHERE_M = 0.04
SILENT_CAMERA_S = 2.0        # diagnostics warn when no frame arrived for this long


def _seconds(stamp: Any) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def _stamp(seconds: float) -> Time:
    nanoseconds = round(seconds * 1e9)
    return Time(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)


class MaterialClassifierNode(Node):
    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("material_classifier_node", **node_kwargs)
        route_core_logging(self)
        d = ContactConfig()
        try:
            config = ClassifierConfig(
                model_path=declare(self, "model_path", str(model_file()), "exported ONNX model; its card "
                                   "(same name, .json) must sit beside it and match its sha256. Setting it at run "
                                   "time loads the new model (refused, keeping the old one, when it does not "
                                   "match its card)"),
                trigger=declare(self, "trigger", "press", "when to classify: press | contact | continuous",
                                read_only=True),
                confidence_threshold=declare(self, "confidence_threshold", 0.5, "fused probability below "
                                             "which the label is 'unknown'", range=(0.0, 1.0)),
                hold_window_s=declare(self, "hold_window_s", 0.5, "seconds after each press stamp whose "
                                      "frames are classified (<= the routine's hold time)", range=(0.02, 10.0)),
                max_frames_per_press=declare(self, "max_frames_per_press", 8, "frames classified per press, "
                                             "evenly spaced over the hold window", range=(1, 120)),
                presses_per_cycle=declare(self, "presses_per_cycle", 2, "presses per palpation cycle (the "
                                          "routine's `presses`): the label is published when that many hold "
                                          "windows are classified; 0: at the state `done`", range=(0, 8)),
                continuous_rate_hz=declare(self, "continuous_rate_hz", 2.0, "most classifications per second "
                                           "in continuous mode (each as its frame arrives; the camera's fps: "
                                           "every frame)", range=(0.05, 60.0)),
                reference_frames=declare(self, "reference_frames", 5, "frames whose median becomes the "
                                         "no-contact reference", range=(1, 120)),
                reference_file=declare(self, "reference_file", "", "no-contact frame of this sensor (PNG); "
                                       "empty: capture at start-up and at each cycle start", read_only=True),
                frames_per_contact=declare(self, "frames_per_contact", 5, "contact mode: frames fused into "
                                           "one touch's label", range=(1, 120)),
                image_width=declare(self, "image_width", 240, "frame width in px (portrait QVGA DIGIT: 240)",
                                    read_only=True, range=(8, 8192)),
                image_height=declare(self, "image_height", 320, "frame height in px (portrait QVGA DIGIT: 320)",
                                     read_only=True, range=(8, 8192)),
                top_k=declare(self, "top_k", 5, "classes drawn as bars on the overlay", range=(1, 50)),
                inference_threads=declare(self, "inference_threads", 1, "ONNX Runtime threads per frame (1: "
                                          "the steadiest latency on a shared 2-core PC, docs/benchmarks.md)",
                                          read_only=True, range=(1, 64)),
                contact=ContactConfig(
                    enter_score=declare(self, "contact_enter_score", d.enter_score, "contact score that "
                                        "starts a contact (`tactile-material contact` shows scores)", range=(0.0, 1.0)),
                    exit_score=declare(self, "contact_exit_score", d.exit_score, "contact score below which "
                                       "a contact ends (< contact_enter_score)", range=(0.0, 1.0)),
                    min_frames=declare(self, "contact_min_frames", d.min_frames, "consecutive frames needed "
                                       "to start or end a contact", range=(1, 100)),
                ),
            )
            self.live = LiveClassifier.from_config(config)
        except ModelIntegrityError as exc:
            raise StartupError(f"model_path: {exc}") from None
        except ValueError as exc:
            raise StartupError(str(exc)) from None
        names = list(self.live.class_names)
        declared = declare(self, "class_names", names, "the model card's classes, in the order of "
                           "material_probabilities (from the card; follows a reloaded model, refuses other sets)",
                           additional_constraints="set by the node from the model card only")
        if list(declared) != names:
            raise StartupError("class_names comes from the model card; do not set it "
                               f"(it was set to {list(declared)})")
        self._own_update = False
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.create_service(Trigger, "~/reload_model", self._on_reload_model)

        self._label_pub = self.create_publisher(String, "material_label", RESULT_QOS)
        self._prob_pub = self.create_publisher(Float32MultiArray, "material_probabilities", RESULT_QOS)
        self._result_pub = self.create_publisher(String, "material_result", RESULT_QOS)
        self._report_pub = self.create_publisher(DiagnosticArray, "material_report", STATE_QOS)
        self._vision = (VisionPublishers(self, config.model_path, self.live.model.sha256) if VISION_MSGS else None)
        self._overlay_pub = self.create_publisher(Image, "material_classifier/overlay", OVERLAY_QOS)
        self._marker_pub = self.create_publisher(MarkerArray, "material_markers", RESULT_QOS)
        self._diag_pub = create_diagnostics_publisher(self)
        # the trigger says how many frames may wait: continuous mode takes 1, so it never sees a stale one
        image_qos = QoSProfile(depth=self.live.trigger.frame_queue_depth, history=HistoryPolicy.KEEP_LAST,
                               reliability=SENSOR_QOS.reliability, durability=SENSOR_QOS.durability)
        self.create_subscription(Image, "digit/image_raw", self._on_image, image_qos)
        self.create_subscription(String, "palpation/state", self._on_state, STATE_QOS)
        self.create_subscription(WrenchStamped, "palpation/press", self._on_press, RESULT_QOS)
        self.create_subscription(DiagnosticArray, "palpation/cycle", self._on_cycle, STATE_QOS)
        if self.live.trigger.uses_position:  # the 100 Hz poses would only cost the other triggers time
            self.create_subscription(PoseStamped, "palpation/tcp_pose", self._on_pose, SENSOR_QOS)
        self.create_timer(1.0, self._publish_diagnostics)
        self._pose: PoseStamped | None = None
        self._marker_ids: dict[tuple[int, int], int] = {}
        self._last_frame_s: float | None = None
        self._camera_frame_id = ""
        self._cycle: CycleInfo | None = None
        self._skipped_reported = 0
        self.get_logger().info(
            f"classifying with {config.model_path} (sha256 {self.live.model.sha256[:12]}…, {len(names)} classes), "
            f"trigger {config.trigger}, reference: {self.live.reference.describe()}")

    # --- model reload -------------------------------------------------------------------
    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        for parameter in parameters:
            if parameter.name == "class_names" and not self._own_update:
                return SetParametersResult(successful=False, reason="class_names comes from the model card; "
                                           "load another model by setting model_path instead")
            if parameter.name == "model_path" and not self._own_update:
                error = self._load(str(parameter.value))
                if error:
                    return SetParametersResult(successful=False, reason=error)
        return SetParametersResult(successful=True)

    def _load(self, model_path: str) -> str:
        """Swap to ``model_path``; the error ("" on success) leaves the old model in place."""
        try:
            names = self.live.reload_model(model_path)
        except ModelIntegrityError as exc:
            self.get_logger().error(f"model not loaded, still classifying with {self.live.config.model_path}: {exc}")
            return str(exc)
        self._own_update = True
        try:
            self.set_parameters([Parameter("class_names", Parameter.Type.STRING_ARRAY, list(names))])
        finally:
            self._own_update = False
        self.get_logger().info(f"loaded {model_path} (sha256 {self.live.model.sha256[:12]}…): {', '.join(names)}")
        return ""

    def _on_reload_model(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        path = self.live.config.model_path
        error = self._load(path)
        response.success = not error
        response.message = error or model_summary_json(self.live)
        return response

    # --- inputs -------------------------------------------------------------------------
    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_image(self, msg: Image, info: MessageInfo) -> None:
        taken_s = time.time()  # the camera stamps with the system clock, as rmw's receive time is
        self._last_frame_s = self._now_s()
        self._camera_frame_id = msg.header.frame_id  # the camera's frame_id parameter: the overlay's frame too
        delivery = Delivery(taken_s, info["received_timestamp"] * 1e-9 or None, info.get("publication_sequence_number"))
        self._publish(self.live.on_image(_seconds(msg.header.stamp), msg.encoding, msg.height, msg.width,
                                         msg.step, msg.data, delivery))

    def _on_state(self, msg: String) -> None:
        self._publish(self.live.on_state(msg.data, self._now_s()))

    def _on_press(self, msg: WrenchStamped) -> None:
        position = frame_id = None
        if self._pose is not None:
            p = self._pose.pose.position
            position, frame_id = (p.x, p.y, p.z), self._pose.header.frame_id
        self._publish(self.live.on_press(_seconds(msg.header.stamp), position, frame_id or ""))

    def _on_pose(self, msg: PoseStamped) -> None:
        self._pose = msg

    def _on_cycle(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            try:
                self._cycle = cycle_from_values({kv.key: kv.value for kv in status.values})
            except ValueError as exc:
                self.get_logger().warning(str(exc), throttle_duration_sec=10.0)

    # --- outputs ------------------------------------------------------------------------
    def _publish(self, results: list[Classification]) -> None:
        for result in results:
            names = self.live.class_names
            self._label_pub.publish(String(data=result.label))
            self.live.freshness.published(result.stamp_s, time.time())
            if result.probabilities is not None:  # no_contact has no material probabilities
                probs = Float32MultiArray()
                probs.layout.dim = [MultiArrayDimension(label="material", size=len(names), stride=len(names))]
                probs.data = [float(p) for p in result.probabilities]
                self._prob_pub.publish(probs)
            self._result_pub.publish(String(data=result_json(result, names)))
            self._publish_report(result)
            self._publish_overlay(result)
            if result.position_m is not None and result.probabilities is not None:
                self._publish_markers(result)
            why = f", {result.reason}" if result.reason and result.reason != result.label else ""
            self.get_logger().info(
                f"material: {result.label} ({100 * result.confidence:.1f} %{why}, {result.presses} press(es), "
                f"{result.frames} frames, model {1000 * result.latency_s:.0f} ms)")

    def _publish_report(self, result: Classification) -> None:
        """material_report (latched): the result stamped with its capture time, tied to its cycle and target."""
        # a result belongs to the current palpation cycle only with the press trigger (the others ignore cycles)
        cycle = self._cycle if self.live.config.trigger == "press" else None
        status = DiagnosticStatus(level=bytes([result_level(result)]), name=f"{self.get_fully_qualified_name()}: "
                                  "material", message=result.label, hardware_id=self.live.model.sha256,
                                  values=[KeyValue(key=k, value=v) for k, v in
                                          result_values(result, self.live.class_names, cycle)])
        report = DiagnosticArray(status=[status])
        report.header.stamp = _stamp(result.stamp_s)
        report.header.frame_id = self._camera_frame_id
        self._report_pub.publish(report)
        if self._vision is not None:
            self._vision.publish(report.header, hypotheses(result, self.live.class_names))

    def _publish_overlay(self, result: Classification) -> None:
        picture = draw_overlay(result.frame, self.live.class_names, result.probabilities, result.label,
                               self.live.config.top_k, result.reason)
        msg = Image()
        msg.header.stamp = _stamp(result.stamp_s)  # the capture time of the newest frame behind the label
        msg.header.frame_id = self._camera_frame_id
        msg.encoding, msg.height, msg.width, msg.step, msg.data = fields_from_frame(picture)
        self._overlay_pub.publish(msg)

    def _publish_markers(self, result: Classification) -> None:
        x, y, z = result.position_m or (0.0, 0.0, 0.0)
        place = (round(x / MARKER_PLACE_GRID_M), round(y / MARKER_PLACE_GRID_M))
        slot = self._marker_ids.setdefault(place, len(self._marker_ids))
        r, g, b = label_colour(result.label, self.live.class_names)
        stamp = self.get_clock().now().to_msg()
        sphere = Marker(ns="material", id=2 * slot, type=Marker.SPHERE, action=Marker.ADD)
        sphere.pose.position = Point(x=x, y=y, z=z - MARKER_SPHERE_M / 2)
        sphere.pose.orientation.w = 1.0
        sphere.scale.x = sphere.scale.y = sphere.scale.z = MARKER_SPHERE_M
        sphere.color = ColorRGBA(r=r, g=g, b=b, a=0.9)
        text = Marker(ns="material", id=2 * slot + 1, type=Marker.TEXT_VIEW_FACING, action=Marker.ADD)
        text.pose.position = Point(x=x, y=y, z=z + 0.08)
        text.pose.orientation.w = 1.0
        text.scale.z = 0.04
        text.color = ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0)
        text.text = f"{result.label} {100 * result.confidence:.0f}%"
        for marker in (sphere, text):
            marker.header.frame_id = result.frame_id or "base"
            marker.header.stamp = stamp
        self._marker_pub.publish(MarkerArray(markers=[sphere, text]))

    def _publish_diagnostics(self) -> None:
        c = self.live.counters
        silent = self._last_frame_s is None or self._now_s() - self._last_frame_s > SILENT_CAMERA_S
        newly_skipped = c.frames_skipped - self._skipped_reported
        self._skipped_reported = c.frames_skipped
        if silent:
            level, message = DiagnosticStatus.WARN, f"no frame on digit/image_raw for > {SILENT_CAMERA_S:.0f} s"
        elif newly_skipped:
            level, message = DiagnosticStatus.WARN, f"{newly_skipped} malformed frame(s) skipped: {c.last_skip_reason}"
        else:
            level, message = DiagnosticStatus.OK, f"classifying ({self.live.config.trigger})"
        values = {
            "hardware_id": f"model sha256 {self.live.model.sha256}",
            "model_path": self.live.config.model_path,
            "model_sha256": self.live.model.sha256,
            "trigger": self.live.config.trigger,
            "classes": len(self.live.class_names),
            "reference": self.live.reference.describe(),
            "frames_received": c.frames_received,
            "frames_skipped": c.frames_skipped,
            "frames_classified": c.frames_classified,
            "frames_dropped_over_rate": c.frames_dropped,
            "last_skip_reason": c.last_skip_reason,
            "results_published": c.results,
            **{f"results_{reason}": n for reason, n in c.reasons.items()},
            **{f"rate_{reason}": f"{n / c.results:.3f}" if c.results else "0" for reason, n in c.reasons.items()},
            "presses_without_frames": c.presses_without_frames,
            "latency_last_ms": f"{1000 * c.last_latency_s:.1f}",
            "latency_per_frame_ms": f"{1000 * c.latency_per_frame_s:.1f}",
            **self.live.freshness.summary(),
        }
        publish_diagnostics(self, self._diag_pub, [diagnostic_status(self, "classifier", level, message, values)])


def main(argv: list[str] | None = None) -> int:
    return run(MaterialClassifierNode, argv)


if __name__ == "__main__":
    sys.exit(main())
