"""Palpation cycles in a rosbag2 MCAP bag: written and read with ``rosbags``, no ROS installation needed.

One bag holds any number of cycles. Standard message types only, on these topics:

===========================  ==========================  ====================================================
topic                        type                        what
===========================  ==========================  ====================================================
``digit/image_raw``          sensor_msgs/Image           the frames of each press's hold window (bgr8)
``recording/reference``      sensor_msgs/Image           the cycle's no-contact reference frame (bgr8)
``palpation/state``          std_msgs/String             the routine's states (bag time = when it was entered)
``palpation/press``          geometry_msgs/WrenchStamped one per press, stamp = the moment the force settled
``palpation/wrench``         geometry_msgs/WrenchStamped the TCP wrench over the cycle
``palpation/tcp_pose``       geometry_msgs/PoseStamped   the TCP pose over the cycle
``recording/cycle``          std_msgs/String             one JSON object per cycle, written when it ends
===========================  ==========================  ====================================================

The ``recording/cycle`` JSON is what a reader relies on: ``format``, ``cycle`` (id, counting from 1 in
a bag), ``target`` (scene object name, "" when unknown), ``label`` (the class the presses are of:
the user's label, else the scene's material of the target), ``material`` (the scene's), ``label_source``
(``user`` | ``scene`` | ``none``), ``sensor_serial``, ``outcome`` (``done`` | ``fault: ...``), ``start`` and
``end`` (s), ``windows`` (``[start, end]`` of each press's hold window, s) and ``reference`` (the
reference frame's stamp, s, or null). A frame belongs to the press whose window holds its stamp.
Every message's bag time is its stamp (capture or event time, nanoseconds).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

BAG_FORMAT = "tactile_material_ros/palpation-bag@1"
IMAGE_TOPIC = "digit/image_raw"
REFERENCE_TOPIC = "recording/reference"
STATE_TOPIC = "palpation/state"
PRESS_TOPIC = "palpation/press"
WRENCH_TOPIC = "palpation/wrench"
POSE_TOPIC = "palpation/tcp_pose"
CYCLE_TOPIC = "recording/cycle"
FRAME_ID = "digit_link"

_TYPES = {
    IMAGE_TOPIC: "sensor_msgs/msg/Image",
    REFERENCE_TOPIC: "sensor_msgs/msg/Image",
    STATE_TOPIC: "std_msgs/msg/String",
    PRESS_TOPIC: "geometry_msgs/msg/WrenchStamped",
    WRENCH_TOPIC: "geometry_msgs/msg/WrenchStamped",
    POSE_TOPIC: "geometry_msgs/msg/PoseStamped",
    CYCLE_TOPIC: "std_msgs/msg/String",
}

Wrench = tuple[float, float, float, float, float, float]          # fx fy fz tx ty tz [N, N m]
PoseQ = tuple[float, float, float, float, float, float, float]    # x y z qx qy qz qw [m]


class BagError(ValueError):
    """A bag cannot be written or read as palpation cycles; the message names the bag and the fix."""


@dataclass(frozen=True)
class StampedImage:
    stamp_s: float
    image: np.ndarray          # uint8 BGR (H, W, 3)


@dataclass
class RecordedCycle:
    """One palpation cycle as it is written to, and read back from, a bag."""

    cycle: int
    target: str = ""
    label: str = ""
    material: str = ""
    label_source: str = "none"
    sensor_serial: str = ""
    outcome: str = "done"
    start_s: float = 0.0
    end_s: float = 0.0
    windows: list[tuple[float, float]] = field(default_factory=list)
    reference: StampedImage | None = None
    frames: list[StampedImage] = field(default_factory=list)
    states: list[tuple[float, str]] = field(default_factory=list)
    presses: list[tuple[float, Wrench]] = field(default_factory=list)
    wrenches: list[tuple[float, Wrench]] = field(default_factory=list)
    poses: list[tuple[float, PoseQ]] = field(default_factory=list)
    frame_id: str = "base"        # of the poses
    wrench_frame_id: str = "base"  # of the presses and wrenches (the graph's: the tool flange, tool0)

    def metadata(self) -> dict[str, Any]:
        return {"format": BAG_FORMAT, "cycle": self.cycle, "target": self.target, "label": self.label,
                "material": self.material, "label_source": self.label_source, "sensor_serial": self.sensor_serial,
                "outcome": self.outcome, "start": self.start_s, "end": self.end_s,
                "windows": [list(w) for w in self.windows],
                "reference": None if self.reference is None else self.reference.stamp_s}

    def press_of(self, stamp_s: float) -> int | None:
        """Index of the press whose hold window holds ``stamp_s``, or None."""
        for index, (start, end) in enumerate(self.windows):
            if start <= stamp_s <= end:
                return index
        return None

    def frames_by_press(self) -> list[list[StampedImage]]:
        """The frames of each press's hold window, in stamp order."""
        groups: list[list[StampedImage]] = [[] for _ in self.windows]
        for frame in sorted(self.frames, key=lambda f: f.stamp_s):
            index = self.press_of(frame.stamp_s)
            if index is not None:
                groups[index].append(frame)
        return groups


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


def _typestore() -> Any:
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_KILTED)


class _Messages:
    """Builds and parses the standard messages of the bag with one typestore."""

    def __init__(self) -> None:
        self.store = _typestore()
        self.t = self.store.types

    def header(self, stamp_s: float, frame_id: str) -> Any:
        ns = _ns(stamp_s)
        return self.t["std_msgs/msg/Header"](stamp=self.t["builtin_interfaces/msg/Time"](
            sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000), frame_id=frame_id)

    def image(self, frame: StampedImage) -> Any:
        image = np.ascontiguousarray(frame.image, dtype=np.uint8)
        if image.ndim != 3 or image.shape[2] != 3:
            raise BagError(f"a frame must be a BGR image (H, W, 3), got shape {image.shape}")
        height, width = image.shape[:2]
        return self.t["sensor_msgs/msg/Image"](header=self.header(frame.stamp_s, FRAME_ID), height=height,
                                               width=width, encoding="bgr8", is_bigendian=0, step=width * 3,
                                               data=image.reshape(-1))

    def string(self, text: str) -> Any:
        return self.t["std_msgs/msg/String"](data=text)

    def wrench(self, stamp_s: float, values: Wrench, frame_id: str) -> Any:
        vector = self.t["geometry_msgs/msg/Vector3"]
        w = self.t["geometry_msgs/msg/Wrench"](force=vector(x=values[0], y=values[1], z=values[2]),
                                               torque=vector(x=values[3], y=values[4], z=values[5]))
        return self.t["geometry_msgs/msg/WrenchStamped"](header=self.header(stamp_s, frame_id), wrench=w)

    def pose(self, stamp_s: float, values: PoseQ, frame_id: str) -> Any:
        p = self.t["geometry_msgs/msg/Pose"](
            position=self.t["geometry_msgs/msg/Point"](x=values[0], y=values[1], z=values[2]),
            orientation=self.t["geometry_msgs/msg/Quaternion"](x=values[3], y=values[4], z=values[5], w=values[6]))
        return self.t["geometry_msgs/msg/PoseStamped"](header=self.header(stamp_s, frame_id), pose=p)


def _stamp_s(msg: Any) -> float:
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


def image_from_message(msg: Any, where: str) -> np.ndarray:
    """A bgr8 / rgb8 / mono8 Image message as a BGR array; other encodings raise BagError."""
    import cv2

    channels = {"bgr8": 3, "rgb8": 3, "mono8": 1}.get(msg.encoding)
    if channels is None:
        raise BagError(f"{where}: image encoding {msg.encoding!r} is not supported (bgr8, rgb8 or mono8)")
    data = np.frombuffer(bytes(msg.data), dtype=np.uint8)
    rows = data.reshape(msg.height, msg.step)[:, : msg.width * channels]
    image = rows.reshape(msg.height, msg.width, channels)
    if msg.encoding == "rgb8":
        return np.ascontiguousarray(image[:, :, ::-1])
    if channels == 1:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(image)


class PalpationBagWriter:
    """Writes whole cycles to a new rosbag2 MCAP bag (a folder); ``close`` writes its metadata.yaml."""

    def __init__(self, path: str | Path) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer, WriterError

        self.path = Path(path)
        if self.path.exists():
            raise BagError(f"bag {self.path} exists already; choose a new name (a bag is never overwritten)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._messages = _Messages()
        self._writer = Writer(self.path, version=9, storage_plugin=StoragePlugin.MCAP)
        try:
            self._writer.open()
        except WriterError as exc:
            raise BagError(f"cannot create bag {self.path}: {exc}") from None
        self._connections = {topic: self._writer.add_connection(topic, msgtype, typestore=self._messages.store)
                             for topic, msgtype in _TYPES.items()}
        self.cycles_written = 0
        self.frames_written = 0

    def _write(self, topic: str, stamp_s: float, msg: Any) -> None:
        data = self._messages.store.serialize_cdr(msg, _TYPES[topic])
        self._writer.write(self._connections[topic], _ns(stamp_s), data)

    def write_cycle(self, cycle: RecordedCycle) -> None:
        m = self._messages
        if cycle.reference is not None:
            self._write(REFERENCE_TOPIC, cycle.reference.stamp_s, m.image(cycle.reference))
        for stamp, state in cycle.states:
            self._write(STATE_TOPIC, stamp, m.string(state))
        for stamp, values in cycle.presses:
            self._write(PRESS_TOPIC, stamp, m.wrench(stamp, values, cycle.wrench_frame_id))
        for stamp, values in cycle.wrenches:
            self._write(WRENCH_TOPIC, stamp, m.wrench(stamp, values, cycle.wrench_frame_id))
        for stamp, pose in cycle.poses:
            self._write(POSE_TOPIC, stamp, m.pose(stamp, pose, cycle.frame_id))
        for frame in cycle.frames:
            self._write(IMAGE_TOPIC, frame.stamp_s, m.image(frame))
        self._write(CYCLE_TOPIC, cycle.end_s, m.string(json.dumps(cycle.metadata())))
        self.cycles_written += 1
        self.frames_written += len(cycle.frames)

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> PalpationBagWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def session_bag_path(folder: str | Path, now: float | None = None) -> Path:
    """A new bag's path in ``folder``: ``palpation_<date>_<time>`` (a suffix when that exists already)."""
    import time

    folder = Path(folder)
    base = time.strftime("palpation_%Y%m%d_%H%M%S", time.localtime(now))
    path, n = folder / base, 1
    while path.exists():
        n += 1
        path = folder / f"{base}_{n}"
    return path


def _open_reader(path: Path) -> Any:
    from rosbags.rosbag2 import Reader

    if not path.exists():
        raise BagError(f"bag {path} not found; give a bag folder (with metadata.yaml) or its .mcap file")
    if path.is_dir() and not (path / "metadata.yaml").is_file():
        files = sorted(path.glob("*.mcap"))
        if len(files) != 1:
            raise BagError(f"{path} is not a rosbag2 bag: no metadata.yaml (was the recorder stopped cleanly?) "
                           "and not exactly one .mcap file to read instead")
        path = files[0]
    try:
        reader = Reader(path)
        reader.open()
    except Exception as exc:  # rosbags raises its own and OS/format errors; all mean "not a readable bag"
        raise BagError(f"{path} cannot be read as a rosbag2 bag: {exc}") from None
    return reader


def is_bag(path: str | Path) -> bool:
    """A rosbag2 bag folder (with metadata.yaml) or an .mcap file."""
    path = Path(path)
    return (path.is_dir() and (path / "metadata.yaml").is_file()) or (path.is_file() and path.suffix == ".mcap")


def read_images(path: str | Path, topics: tuple[str, ...] = (IMAGE_TOPIC,)) -> list[StampedImage]:
    """Every image on ``topics`` of any rosbag2 bag, in stamp order."""
    path = Path(path)
    reader = _open_reader(path)
    store = _typestore()
    try:
        connections = [c for c in reader.connections if c.topic in topics]
        images = []
        for connection, _, raw in reader.messages(connections=connections):
            msg = store.deserialize_cdr(raw, connection.msgtype)
            images.append(StampedImage(_stamp_s(msg), image_from_message(msg, f"{path} {connection.topic}")))
        return sorted(images, key=lambda i: i.stamp_s)
    finally:
        reader.close()


def read_cycles(path: str | Path) -> list[RecordedCycle]:
    """The cycles of a bag written by :class:`PalpationBagWriter` (or by the recorder node)."""
    path = Path(path)
    reader = _open_reader(path)
    store = _typestore()
    cycles: list[RecordedCycle] = []
    reference_stamps: list[float | None] = []
    loose: dict[str, list[tuple[float, Any]]] = {topic: [] for topic in _TYPES if topic != CYCLE_TOPIC}
    try:
        for connection, timestamp, raw in reader.messages():
            if connection.topic not in _TYPES:
                continue
            msg = store.deserialize_cdr(raw, connection.msgtype)
            if connection.topic == CYCLE_TOPIC:
                cycles.append(_cycle_from_json(msg.data, path))
                reference_stamps.append(_reference_stamp(msg.data))
            else:
                loose[connection.topic].append((timestamp * 1e-9, msg))
    finally:
        reader.close()
    if not cycles:
        raise BagError(f"bag {path} has no {CYCLE_TOPIC} messages: it was not written by the palpation recorder "
                       "(record with `tactile-material record` or the graph's record:=true)")
    for cycle, reference_stamp in zip(cycles, reference_stamps, strict=True):
        def inside(stamp: float, c: RecordedCycle = cycle) -> bool:
            return c.start_s <= stamp <= c.end_s
        for stamp, msg in loose[IMAGE_TOPIC]:
            if inside(stamp) and cycle.press_of(stamp) is not None:
                cycle.frames.append(StampedImage(stamp, image_from_message(msg, f"{path} {IMAGE_TOPIC}")))
        for stamp, msg in loose[REFERENCE_TOPIC]:
            if reference_stamp is not None and abs(stamp - reference_stamp) < 1e-6:
                cycle.reference = StampedImage(stamp, image_from_message(msg, f"{path} {REFERENCE_TOPIC}"))
        cycle.states = [(s, m.data) for s, m in loose[STATE_TOPIC] if inside(s)]
        cycle.presses = [(s, wrench_values(m)) for s, m in loose[PRESS_TOPIC] if inside(s)]
        cycle.wrenches = [(s, wrench_values(m)) for s, m in loose[WRENCH_TOPIC] if inside(s)]
        cycle.poses = [(s, pose_values(m)) for s, m in loose[POSE_TOPIC] if inside(s)]
    return cycles


def wrench_values(msg: Any) -> Wrench:
    """A WrenchStamped (rclpy's or rosbags') as (fx, fy, fz, tx, ty, tz)."""
    f, t = msg.wrench.force, msg.wrench.torque
    return (f.x, f.y, f.z, t.x, t.y, t.z)


def pose_values(msg: Any) -> PoseQ:
    """A PoseStamped (rclpy's or rosbags') as (x, y, z, qx, qy, qz, qw)."""
    p, q = msg.pose.position, msg.pose.orientation
    return (p.x, p.y, p.z, q.x, q.y, q.z, q.w)


def _reference_stamp(text: str) -> float | None:
    stamp = json.loads(text)["reference"]
    return None if stamp is None else float(stamp)


def _cycle_from_json(text: str, path: Path) -> RecordedCycle:
    try:
        raw = json.loads(text)
        if raw.get("format") != BAG_FORMAT:
            raise ValueError(f"format {raw.get('format')!r}, expected {BAG_FORMAT!r}")
        cycle = RecordedCycle(
            cycle=int(raw["cycle"]), target=str(raw["target"]), label=str(raw["label"]),
            material=str(raw["material"]), label_source=str(raw["label_source"]),
            sensor_serial=str(raw["sensor_serial"]), outcome=str(raw["outcome"]),
            start_s=float(raw["start"]), end_s=float(raw["end"]),
            windows=[(float(a), float(b)) for a, b in raw["windows"]])
        _reference_stamp(text)
        return cycle
    except (ValueError, KeyError, TypeError) as exc:
        raise BagError(f"bag {path}: a {CYCLE_TOPIC} message is malformed ({exc}); it was not written by this "
                       "package's recorder, or by an incompatible version") from None
