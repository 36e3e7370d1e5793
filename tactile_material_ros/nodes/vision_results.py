"""The classifier's ``vision_msgs`` output, where the vision_msgs package is installed (never a requirement).

- ``material_classification`` (vision_msgs/Classification): each result's hypotheses (class_id =
  material, score = fused probability), best first; header = ``material_report``'s (capture stamp,
  camera frame). Not published for ``no_contact`` (no material probabilities).
- ``material_classifier/vision_info`` (vision_msgs/VisionInfo, reliable, transient local, depth 1):
  method = the model file and its sha256; database_location = the classifier's ``class_names``
  parameter, which holds the class list in the card's order; database_version = the sha256's first
  28 bits.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rclpy.node import Node

from tactile_material_ros.nodes.node_support import RESULT_QOS, STATE_QOS

try:
    from vision_msgs.msg import Classification, ObjectHypothesis, VisionInfo
except ImportError:  # vision_msgs is optional: ros-<distro>-vision-msgs
    VISION_MSGS = False
else:
    VISION_MSGS = True


class VisionPublishers:
    """The two vision_msgs publishers of one classifier node (only built when VISION_MSGS is True)."""

    def __init__(self, node: Node, model_path: str, model_sha256: str) -> None:
        self._classification = node.create_publisher(Classification, "material_classification", RESULT_QOS)
        self._info = node.create_publisher(VisionInfo, "material_classifier/vision_info", STATE_QOS)
        info = VisionInfo(method=f"{Path(model_path).name} sha256:{model_sha256}",
                          database_location=f"{node.get_fully_qualified_name()}/class_names (parameter)",
                          database_version=int(model_sha256[:7], 16))
        info.header.stamp = node.get_clock().now().to_msg()
        self._info.publish(info)

    def publish(self, header: Any, ranked: Sequence[tuple[str, float]]) -> None:
        if not ranked:
            return
        msg = Classification(results=[ObjectHypothesis(class_id=name, score=score) for name, score in ranked])
        msg.header = header
        self._classification.publish(msg)
