"""What every node of this package needs from rclpy, written once.

- ``declare``: declare a parameter with a ``ParameterDescriptor`` (description, range,
  read-only) and return its value.
- ``run``: the ``main()`` body: ``rclpy.init``, build the node, spin, shut down cleanly on
  Ctrl-C / external shutdown (on Ctrl-C the node's ``close`` runs before the context goes down,
  so what it publishes, such as an aborted cycle's state, still goes out); a ``StartupError`` (bad parameter, missing device, tampered
  model) is logged through the node's logger (console, log file, /rosout) as one clear line
  and the process exits with status 2.
- ``route_core_logging``: the core's Python ``logging`` (loggers under ``tactile_material_ros``)
  into the node's rclpy logger, so its INFO lines show and reach /rosout.
- QoS profiles of the interface contract, and a ``/diagnostics`` status builder.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.exceptions import InvalidParameterTypeException
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.logging import get_logger as ros_logger
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data
from rclpy.signals import SignalHandlerOptions

EXIT_STARTUP_ERROR = 2

SENSOR_QOS = qos_profile_sensor_data
# latched: a late subscriber gets exactly the current state (depth 1), not a history
STATE_QOS = QoSProfile(
    depth=1,
    history=HistoryPolicy.KEEP_LAST,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)
RESULT_QOS = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST, reliability=ReliabilityPolicy.RELIABLE)


class StartupError(RuntimeError):
    """The node cannot start: the message names the problem and the fix."""


CORE_LOGGER = "tactile_material_ros"


class RosLogHandler(logging.Handler):
    """Python ``logging`` records -> a node's rclpy logger, at the matching severity, prefixed with
    the core logger's name (``[tactile_material_ros.robot.palpation] ...``)."""

    def __init__(self, node: Node) -> None:
        super().__init__()
        self.node_logger = node.get_logger()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = f"[{record.name}] {self.format(record)}"
        except (TypeError, ValueError):  # a record whose arguments do not fit its format string
            self.handleError(record)
            return
        if record.levelno >= logging.CRITICAL:
            self.node_logger.fatal(text)
        elif record.levelno >= logging.ERROR:
            self.node_logger.error(text)
        elif record.levelno >= logging.WARNING:
            self.node_logger.warning(text)
        elif record.levelno >= logging.INFO:
            self.node_logger.info(text)
        else:
            self.node_logger.debug(text)


def route_core_logging(node: Node) -> RosLogHandler:
    """Send the core's ``logging`` (``tactile_material_ros.*``) to ``node``'s logger from now on; INFO and
    above unless the core logger's level was set. Replaces a handler an earlier node of this process set."""
    core = logging.getLogger(CORE_LOGGER)
    for handler in [h for h in core.handlers if isinstance(h, RosLogHandler)]:
        core.removeHandler(handler)
    handler = RosLogHandler(node)
    core.addHandler(handler)
    if core.level == logging.NOTSET:
        core.setLevel(logging.INFO)
    return handler


def declare(
    node: Node,
    name: str,
    default: Any,
    description: str,
    *,
    read_only: bool = False,
    range: tuple[float, float] | None = None,
    additional_constraints: str = "",
) -> Any:
    """Declare ``name`` with a descriptor and return its value (as given by the user).

    ``range`` becomes an integer or floating-point range in the descriptor, so tools show it and
    rclpy refuses out-of-range values set at run time. A start-up value outside it is returned
    as given, for the core's config dataclass to refuse with its own message (naming the
    parameter, the value, the range and the fix), which is clearer than rclpy's.
    """
    descriptor = ParameterDescriptor(description=description, read_only=read_only,
                                     additional_constraints=additional_constraints)
    ranged = range is not None and isinstance(default, (int, float)) and not isinstance(default, bool)
    # a ranged parameter is declared writable and without its range first, so that an out-of-range start-up
    # value reaches the config dataclass (and its message); set_descriptor then adds the range (and read-only)
    first = ParameterDescriptor(description=description, additional_constraints=additional_constraints) if ranged \
        else descriptor
    try:
        value = node.declare_parameter(name, default, first).value
    except InvalidParameterTypeException as exc:  # e.g. fps:=30.0 for an integer, fps:=abc
        kind = _TYPE_NAMES.get(type(default), type(default).__name__)
        raise StartupError(f"{name} has the wrong type ({str(exc).split(': ' + name)[0]}). "
                           f"Fix: give {name} as {kind}, e.g. {default!r}.") from None
    if not ranged or range is None:
        return value
    lo, hi = range
    if not lo <= value <= hi:  # the core's config dataclass refuses it, with the message users know
        return value
    if isinstance(default, int):
        descriptor.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=0)]
    else:
        descriptor.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi), step=0.0)]
    descriptor.type = node.describe_parameter(name).type
    node.set_descriptor(name, descriptor)
    return value


_TYPE_NAMES = {bool: "a boolean (true / false)", int: "an integer (no decimal point)",
               float: "a floating-point number (with a decimal point: 1.0, not 1)", str: "a string"}


def diagnostic_status(
    node: Node, name: str, level: int, message: str, values: Mapping[str, object]
) -> DiagnosticStatus:
    """One status entry; ``level`` is DiagnosticStatus.OK / WARN / ERROR / STALE. Named after the node's
    fully qualified name (``/cell1/digit_camera_node: camera``), so two cells' sensors never share a name;
    ``values["hardware_id"]`` is the device's own identity (serial, robot address, model sha256)."""
    return DiagnosticStatus(
        level=bytes([level]) if isinstance(level, int) else level,
        name=f"{node.get_fully_qualified_name()}: {name}",
        message=message,
        hardware_id=str(values.get("hardware_id", "")),
        values=[KeyValue(key=str(k), value=str(v)) for k, v in values.items() if k != "hardware_id"],
    )


def publish_diagnostics(node: Node, publisher: Any, statuses: list[DiagnosticStatus]) -> None:
    msg = DiagnosticArray()
    msg.header.stamp = node.get_clock().now().to_msg()
    msg.status = statuses
    publisher.publish(msg)


def create_diagnostics_publisher(node: Node) -> Any:
    return node.create_publisher(DiagnosticArray, "/diagnostics", 10)


def _startup_logger() -> Any:
    """The logger of the node being built (its constructor routed the core's logging to it), else the core's."""
    routed = [h for h in logging.getLogger(CORE_LOGGER).handlers if isinstance(h, RosLogHandler)]
    return routed[-1].node_logger if routed else ros_logger(CORE_LOGGER)


def run(node_factory: Callable[[], Node], argv: list[str] | None = None, threads: int = 1) -> int:
    """main() of a node: init, build, spin, clean shutdown. Returns the exit code."""
    # rclpy handles SIGTERM (external shutdown); Ctrl-C (SIGINT) raises KeyboardInterrupt here instead, so
    # close() runs while the context is still up: a cycle it aborts is published (``fault: aborted``)
    rclpy.init(args=argv if argv is not None else sys.argv, signal_handler_options=SignalHandlerOptions.SIGTERM)
    node: Node | None = None
    code = 0
    try:
        node = node_factory()
        if threads > 1:
            executor = MultiThreadedExecutor(num_threads=threads)
            executor.add_node(node)
            executor.spin()
        else:
            rclpy.spin(node)
    except StartupError as exc:
        # one line, through the node's logger (console, log file, /rosout): what is wrong and how to fix it
        _startup_logger().error(f"[startup error] {exc}")
        code = EXIT_STARTUP_ERROR
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            close = getattr(node, "close", None)
            if callable(close):
                close()
            node.destroy_node()
        if rclpy.ok():
            rclpy.try_shutdown()
    return code
