"""digit_camera_node: tactile frames from a DIGIT, a recording or the simulation, on ``digit/image_raw``.

A thin shell around ``sensing``: it declares the parameters, builds the validated
``CameraConfig``, opens the source through a ``CaptureLoop`` and translates frames into
sensor_msgs/Image (bgr8, frame ``digit_link``, sensor-data QoS, stamp = capture time).
In ``sim`` mode it feeds ``palpation/tcp_pose`` (PoseStamped, tool Z pointing down) and
``palpation/wrench`` (WrenchStamped, tool frame) to the simulated sensor. Service
``digit/capture_reference`` (std_srvs/Trigger) saves the median of the next frames as the
no-contact reference; ``/diagnostics`` reports connection, measured rate and dropped frames.
"""

from __future__ import annotations

import sys
from typing import Any

from diagnostic_msgs.msg import DiagnosticStatus
from geometry_msgs.msg import PoseStamped, WrenchStamped
from rclpy.node import Node
from rclpy.time import Time
from sensor_msgs.msg import Image
from std_srvs.srv import Trigger

from tactile_material_ros.inference.raw_image import fields_from_frame
from tactile_material_ros.nodes.node_support import (
    SENSOR_QOS,
    StartupError,
    create_diagnostics_publisher,
    declare,
    diagnostic_status,
    publish_diagnostics,
    route_core_logging,
    run,
)
from tactile_material_ros.sensing.camera_config import SOURCE_KINDS, CameraConfig, make_source
from tactile_material_ros.sensing.capture_loop import CaptureLoop, CaptureTimeout, save_frame
from tactile_material_ros.sensing.frame_source import FrameSourceError
from tactile_material_ros.sensing.sim_source import SimSource, normal_force_n, tool_yaw_rad

REFERENCE_TIMEOUT_S = 5.0


class DigitCameraNode(Node):
    def __init__(self, **node_kwargs: Any) -> None:
        super().__init__("digit_camera_node", **node_kwargs)
        route_core_logging(self)
        d = CameraConfig()
        try:
            self.config = CameraConfig(
                source=declare(self, "source", d.source, f"frame source: {' | '.join(SOURCE_KINDS)}", read_only=True),
                serial=declare(self, "serial", d.serial, "DIGIT serial number (source digit), e.g. D20001",
                               read_only=True),
                resolution=declare(self, "resolution", d.resolution, "DIGIT stream: QVGA (240x320 portrait) or "
                                   "VGA (480x640)", read_only=True),
                fps=declare(self, "fps", d.fps, "frames per second; QVGA: 60 or 30, VGA: 30 or 15",
                            read_only=True, range=(15, 60), additional_constraints="QVGA: 60, 30; VGA: 30, 15"),
                intensity=declare(self, "intensity", d.intensity, "DIGIT LED intensity", read_only=True,
                                  range=(0, 15)),
                replay_path=declare(self, "replay_path", d.replay_path, "folder of frames, a video file or a rosbag2 bag (MCAP) "
                                    "(source replay), looped", read_only=True),
                replay_rate_hz=declare(self, "replay_rate_hz", d.replay_rate_hz, "replay rate (0: fps)",
                                       read_only=True, range=(0.0, 240.0)),
                scene_path=declare(self, "scene_path", d.scene_path, "scene YAML of the simulated world (source "
                                   "sim); empty: the package's four-ball scene", read_only=True),
                background_seed=declare(self, "background_seed", d.background_seed, "which simulated sensor: "
                                        "seeds its LED background (source sim)", read_only=True, range=(0, 2**31 - 1)),
                noise_sigma=declare(self, "noise_sigma", d.noise_sigma, "simulated sensor noise [grey levels]",
                                    read_only=True, range=(0.0, 50.0)),
                frame_id=declare(self, "frame_id", d.frame_id, "TF frame of the images", read_only=True),
                reference_path=declare(self, "reference_path", d.reference_path, "where digit/capture_reference "
                                       "saves the no-contact frame (PNG)"),
            )
            self.source = make_source(self.config)
        except ValueError as exc:
            raise StartupError(str(exc)) from None
        self._image_pub = self.create_publisher(Image, "digit/image_raw", SENSOR_QOS)
        self._diag_pub = create_diagnostics_publisher(self)
        self.capture = CaptureLoop(self.source, self._publish_frame, self.config.rate_hz)
        try:
            self.capture.start()
        except FrameSourceError as exc:
            raise StartupError(str(exc)) from None
        self.create_service(Trigger, "digit/capture_reference", self._capture_reference)
        if isinstance(self.source, SimSource):
            self.create_subscription(PoseStamped, "palpation/tcp_pose", self._on_pose, SENSOR_QOS)
            self.create_subscription(WrenchStamped, "palpation/wrench", self._on_wrench, SENSOR_QOS)
        self.create_timer(1.0, self._publish_diagnostics)
        info = self.source.info
        self.get_logger().info(f"streaming {info.kind} ({info.device}) {info.width}x{info.height} at "
                               f"{self.config.rate_hz:g} Hz on digit/image_raw")

    def close(self) -> None:
        capture: CaptureLoop | None = getattr(self, "capture", None)
        if capture is not None:
            capture.stop()

    # --- frames -------------------------------------------------------------------------
    def _publish_frame(self, frame: Any, capture_time_s: float) -> None:
        if not self.context.ok():  # shutting down: the capture thread is about to be stopped
            return
        msg = Image()
        msg.header.stamp = Time(nanoseconds=int(capture_time_s * 1e9)).to_msg()
        msg.header.frame_id = self.config.frame_id
        msg.encoding, msg.height, msg.width, msg.step, msg.data = fields_from_frame(frame)
        self._image_pub.publish(msg)

    # --- simulation inputs --------------------------------------------------------------
    def _on_pose(self, msg: PoseStamped) -> None:
        p, q = msg.pose.position, msg.pose.orientation
        assert isinstance(self.source, SimSource)
        self.source.set_pose((p.x, p.y, p.z), tool_yaw_rad((q.x, q.y, q.z, q.w)))

    def _on_wrench(self, msg: WrenchStamped) -> None:
        f = msg.wrench.force
        assert isinstance(self.source, SimSource)
        self.source.set_force(normal_force_n((f.x, f.y, f.z)))

    # --- services and diagnostics -------------------------------------------------------
    def _capture_reference(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        path = self.get_parameter("reference_path").value
        try:
            frame = self.capture.capture_reference(5, REFERENCE_TIMEOUT_S)
            saved = save_frame(frame, path)
        except (CaptureTimeout, OSError) as exc:
            response.success, response.message = False, str(exc)
            return response
        response.success, response.message = True, str(saved)
        self.get_logger().info(f"no-contact reference saved to {saved}")
        return response

    def _publish_diagnostics(self) -> None:
        s = self.capture.stats()
        info = self.source.info
        if not s.connected:
            level, message = DiagnosticStatus.ERROR, f"disconnected: {s.last_error}"
        elif s.rate_hz < 0.8 * self.config.rate_hz:
            level, message = DiagnosticStatus.WARN, f"rate {s.rate_hz:.1f} Hz below the set {self.config.rate_hz:g} Hz"
        else:
            level, message = DiagnosticStatus.OK, "streaming"
        status = diagnostic_status(self, "camera", level, message, {
            "hardware_id": info.device, "source": info.kind, "connected": s.connected,
            "rate_hz": f"{s.rate_hz:.2f}", "set_rate_hz": f"{self.config.rate_hz:g}",
            "frames": s.frames, "dropped_frames": s.dropped, "resolution": f"{info.width}x{info.height}",
        })
        publish_diagnostics(self, self._diag_pub, [status])


def main(argv: list[str] | None = None) -> None:
    sys.exit(run(DigitCameraNode, argv))


if __name__ == "__main__":
    main()
