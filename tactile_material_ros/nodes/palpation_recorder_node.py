"""palpation_recorder_node: every palpation cycle into a rosbag2 MCAP bag, for `tactile-material dataset`.

A thin shell around :class:`recording.cycle_recorder.CycleRecorder` and
:class:`recording.palpation_bag.PalpationBagWriter`. Subscribes ``digit/image_raw`` (sensor QoS),
``palpation/state`` (reliable, transient local), ``palpation/press``, ``palpation/wrench`` and
``palpation/tcp_pose``; writes each cycle when it ends (the frames of its hold windows, its
no-contact reference, states, presses, wrench, pose and a ``recording/cycle`` JSON with target and
label) to ``<bag_dir>/palpation_<date>_<time>``. Services: ``~/split_bagfile`` (std_srvs/Trigger,
as rosbag2's recorder names it): close the bag (its message: the closed bag's path) and go on in a
new one. Parameter ``label`` (may change at run time) names the class of what is pressed next;
empty: the scene's material of the object under the tool. See README's interface table.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import PoseStamped, WrenchStamped
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import Image
from std_msgs.msg import String
from std_srvs.srv import Trigger

from tactile_material_ros.inference.raw_image import ImageFormatError, frame_from_fields
from tactile_material_ros.nodes.node_support import (
    RESULT_QOS,
    SENSOR_QOS,
    STATE_QOS,
    StartupError,
    create_diagnostics_publisher,
    declare,
    diagnostic_status,
    publish_diagnostics,
    run,
)
from tactile_material_ros.recording.cycle_recorder import CycleRecorder, RecorderConfig
from tactile_material_ros.recording.palpation_bag import (
    BagError,
    PalpationBagWriter,
    RecordedCycle,
    pose_values,
    session_bag_path,
    wrench_values,
)
from tactile_material_ros.sim.scene import SceneError, load_scene


def _seconds(stamp: Any) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


class PalpationRecorderNode(Node):
    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("palpation_recorder_node", **node_kwargs)
        d = RecorderConfig()
        self.bag_dir = Path(declare(self, "bag_dir", "bags", "folder the bags are written to (one per run and "
                                    "per ~/split_bagfile)", read_only=True))
        scene_path = declare(self, "scene", "", "scene YAML that names the pressed object and its material "
                             "(empty: config/scene_four_balls.yaml)", read_only=True)
        try:
            config = RecorderConfig(
                label=declare(self, "label", d.label, "class of what is pressed next (empty: the scene's "
                              "material of the object under the tool); may change between cycles"),
                sensor_serial=declare(self, "sensor_serial", d.sensor_serial, "the DIGIT's serial, written "
                                      "into every cycle (empty: unknown)", read_only=True),
                hold_window_s=declare(self, "hold_window_s", d.hold_window_s, "longest hold window kept after "
                                      "each press (the state retracting ends it)", read_only=True, range=(0.02, 10.0)),
                reference_frames=declare(self, "reference_frames", d.reference_frames, "frames after "
                                         "approaching whose median is the no-contact reference", read_only=True,
                                         range=(1, 120)),
            )
            scene = load_scene(scene_path or None)
        except (ValueError, SceneError, OSError) as exc:
            raise StartupError(str(exc)) from None
        self.recorder = CycleRecorder(config, scene)
        self.writer: PalpationBagWriter | None = None
        self._open_bag()
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.create_subscription(Image, "digit/image_raw", self._on_image, SENSOR_QOS)
        self.create_subscription(String, "palpation/state", self._on_state, STATE_QOS)
        self.create_subscription(WrenchStamped, "palpation/press", self._on_press, RESULT_QOS)
        self.create_subscription(WrenchStamped, "palpation/wrench", self._on_wrench, SENSOR_QOS)
        self.create_subscription(PoseStamped, "palpation/tcp_pose", self._on_pose, SENSOR_QOS)
        self.create_service(Trigger, "~/split_bagfile", self._on_split)
        self._diag_pub = create_diagnostics_publisher(self)
        self.create_timer(1.0, self._publish_diagnostics)
        self._skipped = 0
        self._last_skip = ""

    def _open_bag(self) -> None:
        try:
            self.writer = PalpationBagWriter(session_bag_path(self.bag_dir))
        except BagError as exc:
            raise StartupError(f"bag_dir: {exc}") from None
        self.get_logger().info(f"recording palpation cycles to {self.writer.path}")

    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        for parameter in parameters:
            if parameter.name == "label":
                try:
                    RecorderConfig(label=str(parameter.value))
                except ValueError as exc:
                    return SetParametersResult(successful=False, reason=str(exc))
                self.recorder.label = str(parameter.value)
        return SetParametersResult(successful=True)

    # --- inputs -------------------------------------------------------------------------
    def _now_s(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _on_image(self, msg: Image) -> None:
        try:
            image = frame_from_fields(msg.encoding, msg.height, msg.width, msg.step, msg.data)
        except ImageFormatError as exc:
            self._skipped += 1
            self._last_skip = str(exc)
            return
        self.recorder.on_frame(_seconds(msg.header.stamp), image)

    def _on_state(self, msg: String) -> None:
        self._write(self.recorder.on_state(msg.data, self._now_s()))

    def _on_press(self, msg: WrenchStamped) -> None:
        self.recorder.on_press(_seconds(msg.header.stamp), wrench_values(msg))

    def _on_wrench(self, msg: WrenchStamped) -> None:
        self.recorder.on_wrench(_seconds(msg.header.stamp), wrench_values(msg), msg.header.frame_id)

    def _on_pose(self, msg: PoseStamped) -> None:
        self.recorder.on_pose(_seconds(msg.header.stamp), pose_values(msg), msg.header.frame_id)

    # --- outputs ------------------------------------------------------------------------
    def _write(self, cycle: RecordedCycle | None) -> None:
        if cycle is None or self.writer is None:
            return
        self.writer.write_cycle(cycle)
        self.get_logger().info(
            f"cycle {cycle.cycle} recorded ({cycle.outcome}): target {cycle.target or '?'}, label "
            f"{cycle.label or '(none)'} ({cycle.label_source}), {len(cycle.presses)} press(es), "
            f"{len(cycle.frames)} frames")

    def _on_split(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        closed = self.close()
        self._open_bag()
        response.success = closed is not None
        response.message = str(closed) if closed is not None else "no bag was open"
        return response

    def _publish_diagnostics(self) -> None:
        writer = self.writer
        values = {"bag": str(writer.path) if writer else "", "cycles_written": writer.cycles_written if writer else 0,
                  "frames_written": writer.frames_written if writer else 0, "recording_cycle": self.recorder.recording,
                  "label": self.recorder.label, "frames_skipped": self._skipped, "last_skip_reason": self._last_skip}
        level = DiagnosticStatus.WARN if self._skipped else DiagnosticStatus.OK
        message = f"{self._skipped} malformed frame(s) skipped" if self._skipped else "recording"
        publish_diagnostics(self, self._diag_pub, [diagnostic_status(self, "recorder", level, message, values)])

    def close(self) -> Path | None:
        """Close the bag (writes its metadata.yaml); its path, or None when none was open."""
        writer, self.writer = self.writer, None
        if writer is None:
            return None
        writer.close()
        self.get_logger().info(f"closed {writer.path} ({writer.cycles_written} cycles, {writer.frames_written} "
                               "frames)")
        return writer.path


def main(argv: list[str] | None = None) -> int:
    return run(PalpationRecorderNode, argv)


if __name__ == "__main__":
    sys.exit(main())
