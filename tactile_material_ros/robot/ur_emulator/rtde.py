"""The RTDE server (TCP 30004), protocol version 2, as described in Universal Robots' RTDE guide.

Every message is a header ``>HB`` (size including the header, type) and a payload, big-endian:

- ``V`` request protocol version (uint16) -> uint8 accepted. Only version 2 is served (what ur_rtde
  asks for); another is refused and logged with the version.
- ``v`` get controller version -> four uint32 (major, minor, bugfix, build): 5.x for an e-Series,
  3.x for a CB3.
- ``O`` setup outputs: double frequency, then comma-separated names -> uint8 recipe id and the types.
  A name the controller does not know answers ``NOT_FOUND`` (ur_rtde then raises, naming it) and is
  logged by name. The frequency must be in (0, the model's rate]: 500 Hz e-Series, 125 Hz CB3.
- ``I`` setup inputs: comma-separated names -> uint8 recipe id and the types; ``NOT_FOUND`` as above,
  ``IN_USE`` when another client already writes that input.
- ``S`` start / ``P`` pause -> uint8 success; after start, one data package (``U``: recipe id and the
  values) per period of the requested frequency.
- ``U`` from the client: an input recipe id and its values, written to the controller's registers.

ur_rtde sends its name lists with a trailing comma; an empty name is skipped.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
from dataclasses import dataclass

import numpy as np

from tactile_material_ros.robot.ur_emulator import arrival_stamps
from tactile_material_ros.robot.ur_emulator.controller import REGISTER_COUNT, ControllerState, EmulatedController
from tactile_material_ros.robot.ur_emulator.listener import ClientSession, Listener

log = logging.getLogger(__name__)

RTDE_PORT = 30004
PROTOCOL_VERSION = 2
REQUEST_PROTOCOL_VERSION, GET_URCONTROL_VERSION, TEXT_MESSAGE = ord("V"), ord("v"), ord("M")
DATA_PACKAGE, SETUP_OUTPUTS, SETUP_INPUTS, START, PAUSE = ord("U"), ord("O"), ord("I"), ord("S"), ord("P")
HEADER = struct.Struct(">HB")

# RTDE type name -> struct format (big-endian)
TYPE_FORMATS = {"BOOL": "?", "UINT8": "B", "UINT32": "I", "UINT64": "Q", "INT32": "i", "DOUBLE": "d",
                "VECTOR3D": "3d", "VECTOR6D": "6d", "VECTOR6INT32": "6i", "VECTOR6UINT32": "6I"}


def _output_types() -> dict[str, str]:
    """Every output the RTDE guide lists (for PolyScope 5.x / 3.x), with its type."""
    types = {name: "VECTOR6D" for name in (
        "target_q", "target_qd", "target_qdd", "target_current", "target_moment", "actual_q", "actual_qd",
        "actual_current", "joint_control_output", "actual_TCP_pose", "actual_TCP_speed", "actual_TCP_force",
        "target_TCP_pose", "target_TCP_speed", "joint_temperatures", "actual_joint_voltage", "ft_raw_wrench",
        "payload_inertia", "actual_current_window", "actual_current_as_torque", "target_current_window")}
    types.update({name: "DOUBLE" for name in (
        "timestamp", "actual_execution_time", "speed_scaling", "target_speed_fraction", "actual_momentum",
        "actual_main_voltage", "actual_robot_voltage", "actual_robot_current", "standard_analog_input0",
        "standard_analog_input1", "standard_analog_output0", "standard_analog_output1", "io_current",
        "euromap67_24V_voltage", "euromap67_24V_current", "tool_analog_input0", "tool_analog_input1",
        "tool_output_current", "tool_temperature", "tcp_force_scalar", "payload", "joint_position_deviation_ratio",
        "collision_detection_ratio")})
    types.update({name: "VECTOR3D" for name in (
        "actual_tool_accelerometer", "elbow_position", "elbow_velocity", "payload_cog")})
    types.update({name: "UINT32" for name in (
        "runtime_state", "robot_status_bits", "safety_status_bits", "analog_io_types", "euromap67_input_bits",
        "euromap67_output_bits", "tool_mode", "tool_analog_input_types", "output_bit_registers0_to_31",
        "output_bit_registers32_to_63", "input_bit_registers0_to_31", "input_bit_registers32_to_63",
        "script_control_line")})
    types.update({name: "INT32" for name in ("robot_mode", "safety_mode", "safety_status", "tool_output_voltage")})
    types.update({name: "UINT64" for name in ("actual_digital_input_bits", "actual_digital_output_bits")})
    types.update({name: "UINT8" for name in (
        "tool_output_mode", "tool_digital_output0_mode", "tool_digital_output1_mode")})
    types["joint_mode"] = "VECTOR6INT32"
    for i in range(REGISTER_COUNT):
        types[f"output_int_register_{i}"] = types[f"input_int_register_{i}"] = "INT32"
        types[f"output_double_register_{i}"] = types[f"input_double_register_{i}"] = "DOUBLE"
    for i in range(64, 128):
        types[f"output_bit_register_{i}"] = types[f"input_bit_register_{i}"] = "BOOL"
    return types


def _input_types() -> dict[str, str]:
    types = {"speed_slider_mask": "UINT32", "speed_slider_fraction": "DOUBLE",
             "standard_digital_output_mask": "UINT8", "standard_digital_output": "UINT8",
             "configurable_digital_output_mask": "UINT8", "configurable_digital_output": "UINT8",
             "tool_digital_output_mask": "UINT8", "tool_digital_output": "UINT8",
             "standard_analog_output_mask": "UINT8", "standard_analog_output_type": "UINT8",
             "standard_analog_output_0": "DOUBLE", "standard_analog_output_1": "DOUBLE",
             "input_bit_registers0_to_31": "UINT32", "input_bit_registers32_to_63": "UINT32",
             "external_force_torque": "VECTOR6D"}
    for i in range(REGISTER_COUNT):
        types[f"input_int_register_{i}"] = "INT32"
        types[f"input_double_register_{i}"] = "DOUBLE"
    for i in range(64, 128):
        types[f"input_bit_register_{i}"] = "BOOL"
    return types


OUTPUT_TYPES = _output_types()
INPUT_TYPES = _input_types()
ZERO_VALUES = {"BOOL": False, "UINT8": 0, "UINT32": 0, "UINT64": 0, "INT32": 0, "DOUBLE": 0.0,
               "VECTOR3D": [0.0] * 3, "VECTOR6D": [0.0] * 6, "VECTOR6INT32": [0] * 6, "VECTOR6UINT32": [0] * 6}


class RtdeProtocolError(RuntimeError):
    """A client broke the RTDE protocol (a malformed message, an unknown recipe)."""


@dataclass(frozen=True)
class Recipe:
    recipe_id: int
    names: tuple[str, ...]
    types: tuple[str, ...]

    @property
    def packer(self) -> struct.Struct:
        return struct.Struct(">" + "".join(TYPE_FORMATS[t] for t in self.types))


def split_names(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


class RtdeSession(ClientSession):
    """One RTDE client: its recipes, its input registers, and its data package stream."""

    def __init__(self, sock: socket.socket, address: tuple[str, int], server: RtdeServer) -> None:
        super().__init__(sock, address)
        self._server = server
        self._controller = server.controller
        self._output: Recipe | None = None
        self._divider = 1
        self._inputs: dict[int, Recipe] = {}
        self._streaming = threading.Event()
        self._sender: threading.Thread | None = None
        arrival_stamps.enable(sock)
        self._arrived_at: float | None = None     # when the last byte read so far reached the socket

    def read_exact(self, count: int) -> bytes | None:
        """``count`` bytes (None when the client closed), noting when the last of them arrived."""
        data = bytearray()
        while len(data) < count:
            chunk, self._arrived_at, _stamped = arrival_stamps.receive(self.sock, count - len(data))
            if not chunk:
                return None
            data.extend(chunk)
        return bytes(data)

    @property
    def has_unread_data(self) -> bool:
        return not self.closed and arrival_stamps.has_unread_data(self.sock)

    def serve(self) -> None:
        try:
            while True:
                header = self.read_exact(HEADER.size)
                if header is None:
                    return
                size, kind = HEADER.unpack(header)
                if size < HEADER.size:
                    raise RtdeProtocolError(f"message size {size} < {HEADER.size}")
                payload = self.read_exact(size - HEADER.size)
                if payload is None:
                    return
                self._handle(kind, payload)
        except (RtdeProtocolError, struct.error, IndexError) as exc:
            log.error("RTDE client %s broke the protocol: %s; closing its connection", self.peer, exc)
        finally:
            self._streaming.clear()
            self._server.release_inputs(self)

    def _send(self, kind: int, payload: bytes = b"") -> None:
        self.send(HEADER.pack(HEADER.size + len(payload), kind) + payload)

    def _handle(self, kind: int, payload: bytes) -> None:
        if kind == REQUEST_PROTOCOL_VERSION:
            (version,) = struct.unpack(">H", payload[:2])
            accepted = version == PROTOCOL_VERSION
            if not accepted:
                log.error("RTDE client %s asks for protocol version %d; this emulator serves version %d only "
                          "(ur_rtde 1.6.5 asks for 2)", self.peer, version, PROTOCOL_VERSION)
            self._send(kind, struct.pack(">B", int(accepted)))
        elif kind == GET_URCONTROL_VERSION:
            v = self._controller.version
            self._send(kind, struct.pack(">IIII", v.major, v.minor, v.bugfix, v.build))
        elif kind == SETUP_OUTPUTS:
            self._setup_outputs(payload)
        elif kind == SETUP_INPUTS:
            self._setup_inputs(payload)
        elif kind == START:
            ok = self._output is not None
            if not ok:
                log.error("RTDE client %s sent start before an output recipe; set up the outputs first", self.peer)
            self._send(kind, struct.pack(">B", int(ok)))
            if ok:
                self._start_streaming()
        elif kind == PAUSE:
            self._streaming.clear()
            self._send(kind, struct.pack(">B", 1))
        elif kind == DATA_PACKAGE:
            self._receive_inputs(payload)
        else:
            log.error("RTDE client %s sent message type %d (%r), which RTDE does not define; ignored",
                      self.peer, kind, chr(kind))

    def _setup_outputs(self, payload: bytes) -> None:
        (frequency,) = struct.unpack(">d", payload[:8])
        names = split_names(payload[8:].decode("ascii", errors="replace"))
        types = [OUTPUT_TYPES.get(name, "NOT_FOUND") for name in names]
        missing = [n for n, t in zip(names, types, strict=True) if t == "NOT_FOUND"]
        rate = 1.0 / self._controller.period_s
        if missing:
            log.error("RTDE client %s asked for outputs this controller does not have: %s (answered NOT_FOUND)",
                      self.peer, ", ".join(missing))
        if not 0 < frequency <= rate + 1e-6:
            log.error("RTDE client %s asked for %g Hz; a %s serves 0 < f <= %g Hz: streaming at %g Hz",
                      self.peer, frequency, self._controller.model, rate, rate)
            frequency = rate
        self._divider = max(1, round(rate / frequency))
        recipe_id = 1
        if not missing:
            self._output = Recipe(recipe_id, tuple(names), tuple(types))
            log.info("RTDE client %s: output recipe of %d variables at %g Hz", self.peer, len(names), rate / self._divider)
        self._send(SETUP_OUTPUTS, struct.pack(">B", recipe_id if not missing else 0) + ",".join(types).encode())

    def _setup_inputs(self, payload: bytes) -> None:
        names = split_names(payload.decode("ascii", errors="replace"))
        types = [INPUT_TYPES.get(name, "NOT_FOUND") for name in names]
        missing = [n for n, t in zip(names, types, strict=True) if t == "NOT_FOUND"]
        if missing:
            log.error("RTDE client %s asked for inputs this controller does not have: %s (answered NOT_FOUND)",
                      self.peer, ", ".join(missing))
        busy = self._server.claim_inputs(self, [n for n, t in zip(names, types, strict=True) if t != "NOT_FOUND"])
        if busy:
            log.error("RTDE client %s asked for inputs that another RTDE client writes: %s (answered IN_USE); only "
                      "one client may control a robot", self.peer, ", ".join(busy))
            types = ["IN_USE" if n in busy else t for n, t in zip(names, types, strict=True)]
        recipe_id = 0
        if not missing and not busy:
            recipe_id = len(self._inputs) + 1
            self._inputs[recipe_id] = Recipe(recipe_id, tuple(names), tuple(types))
        self._send(SETUP_INPUTS, struct.pack(">B", recipe_id) + ",".join(types).encode())

    def _receive_inputs(self, payload: bytes) -> None:
        if not payload:
            raise RtdeProtocolError("a data package without a recipe id")
        recipe_id = payload[0]
        recipe = self._inputs.get(recipe_id)
        if recipe is None:
            log.error("RTDE client %s sent a data package for input recipe %d, which it never set up (known: %s); "
                      "ignored", self.peer, recipe_id, sorted(self._inputs) or "none")
            return
        packer = recipe.packer
        if len(payload) - 1 != packer.size:
            raise RtdeProtocolError(f"input recipe {recipe_id} needs {packer.size} bytes of data, got "
                                    f"{len(payload) - 1}")
        flat = list(packer.unpack(payload[1:]))
        values: dict[str, object] = {}
        for name, kind in zip(recipe.names, recipe.types, strict=True):
            width = 6 if kind.startswith("VECTOR6") else 3 if kind == "VECTOR3D" else 1
            values[name] = flat[0] if width == 1 else flat[:width]
            del flat[:width]
        self._controller.write_inputs(values, self._arrived_at)

    def _start_streaming(self) -> None:
        self._streaming.set()
        if self._sender is None:
            self._sender = threading.Thread(target=self._stream, name=f"rtde-out-{self.peer}", daemon=True)
            self._sender.start()

    def _stream(self) -> None:
        period = self._controller.state.period
        while not self.closed and self._controller.running:
            state = self._controller.wait_period(period, timeout_s=0.5)
            if state is None:
                continue
            period = state.period
            if not self._streaming.is_set() or period % self._divider:
                continue
            if not self.send(self._package(state)):
                return

    def _package(self, state: ControllerState) -> bytes:
        recipe = self._output
        assert recipe is not None
        flat: list[object] = []
        for name, kind in zip(recipe.names, recipe.types, strict=True):
            value = state.values.get(name, ZERO_VALUES[kind])
            if isinstance(value, (list, tuple, np.ndarray)):
                flat.extend(value)
            else:
                flat.append(value)
        payload = struct.pack(">B", recipe.recipe_id) + recipe.packer.pack(*flat)
        return HEADER.pack(HEADER.size + len(payload), DATA_PACKAGE) + payload


class RtdeServer(Listener):
    """Accepts RTDE clients on ``host``:30004 (or ``port``)."""

    def __init__(self, controller: EmulatedController, host: str, port: int = RTDE_PORT) -> None:
        super().__init__("RTDE", host, port)
        self.controller = controller
        self._owners: dict[str, RtdeSession] = {}
        self._owners_lock = threading.Lock()

    def make_session(self, sock: socket.socket, address: tuple[str, int]) -> ClientSession:
        return RtdeSession(sock, address, self)

    def claim_inputs(self, session: RtdeSession, names: list[str]) -> list[str]:
        """Claim inputs for ``session``; the names another live client already writes."""
        with self._owners_lock:
            busy = [n for n in names if self._owners.get(n, session) is not session
                    and not self._owners[n].closed]
            if not busy:
                for name in names:
                    self._owners[name] = session
            return busy

    def inputs_waiting(self) -> bool:
        """Whether a client that writes inputs has a package waiting unread (the emulator lags, not the client)."""
        with self._owners_lock:
            writers = set(self._owners.values())
        return any(session.has_unread_data for session in writers)

    def release_inputs(self, session: RtdeSession) -> None:
        with self._owners_lock:
            for name in [n for n, s in self._owners.items() if s is session]:
                del self._owners[name]
