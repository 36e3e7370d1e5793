"""The dashboard server (TCP 29999): one text line in, one text line out.

The commands ur_rtde's ``DashboardClient`` sends (1.6.5), answered the way PolyScope words them:
``PolyscopeVersion``, ``get serial number``, ``is in remote control`` (e-Series 5.6+), ``robotmode``,
``safetymode``, ``safetystatus``, ``programState``, ``running``, ``play``, ``stop``, ``pause``,
``power on``, ``power off``, ``brake release``, ``unlock protective stop``, ``close popup``,
``close safety popup``, ``restart safety``, ``get robot model``, ``get loaded program``,
``isProgramSaved``, ``addToLog``, ``popup``, ``quit``. ``RTDEControlInterface``'s constructor reads the
version, the serial number and, on an e-Series at an address other than 127.0.0.1, whether the robot
is in remote control; when the control script already runs it sends ``stop`` before uploading it
again. An unknown command is answered "could not understand" and logged by name.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable

from tactile_material_ros.robot.arm_port import ROBOT_MODE_NAMES
from tactile_material_ros.robot.ur_emulator.controller import EmulatedController
from tactile_material_ros.robot.ur_emulator.listener import ClientSession, Listener

log = logging.getLogger(__name__)

DASHBOARD_PORT = 29999
WELCOME = "Connected: Universal Robots Dashboard Server"
SERIAL_NUMBER = "20235500001"


class DashboardSession(ClientSession):
    def __init__(self, sock: socket.socket, address: tuple[str, int], server: DashboardServer) -> None:
        super().__init__(sock, address)
        self._server = server
        self._controller = server.controller

    def serve(self) -> None:
        self.send((WELCOME + "\n").encode())
        pending = b""
        while True:
            chunk = self.sock.recv(4096)
            if not chunk:
                return
            pending += chunk
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                command = line.decode("utf-8", errors="replace").strip()
                answer = self.answer(command)
                self.send((answer + "\n").encode())
                if command == "quit":
                    return

    def answer(self, command: str) -> str:
        c = self._controller
        arm = c.arm
        e_series = c.version.major >= 5
        safety = arm.safety()
        program = "rtde_control" if arm.script_running or arm.program_paused else "<unnamed>"
        fixed: dict[str, Callable[[], str]] = {
            "PolyscopeVersion": lambda: f"URSoftware {c.version.text} (emulated {c.model})",
            "robotmode": lambda: f"Robotmode: {ROBOT_MODE_NAMES.get(safety.robot_mode, 'RUNNING').upper()}",
            "safetymode": lambda: f"Safetymode: {self._safety_word(safety)}",
            "safetystatus": lambda: f"Safetystatus: {self._safety_word(safety)}",
            "programState": lambda: f"{self._program_state()} {program}",
            "running": lambda: f"Program running: {str(arm.script_running).lower()}",
            "get robot model": lambda: "UR10",
            "get loaded program": lambda: "No program loaded",
            "isProgramSaved": lambda: "true <unnamed>",
            "power on": lambda: "Powering on",
            "power off": lambda: "Powering off",
            "brake release": lambda: "Brake releasing",
            "close popup": lambda: "closing popup",
            "close safety popup": lambda: "closing safety popup",
            "restart safety": lambda: "Restarting safety",
            "quit": lambda: "Disconnected",
            "play": lambda: "Failed to execute: play (no program loaded; ur_rtde sends its script to port 30003)",
            "stop": self._stop,
            "pause": self._pause,
            "unlock protective stop": self._unlock,
        }
        if e_series:
            fixed["get serial number"] = lambda: SERIAL_NUMBER
            fixed["is in remote control"] = lambda: str(self._server.remote_control).lower()
        if command in fixed:
            return fixed[command]()
        for prefix, reply in (("addToLog ", "Added log message"), ("popup ", "showing popup"),
                              ("load ", "File not found: " + command[5:]), ("setUserRole ", "Setting user role")):
            if command.startswith(prefix):
                return reply
        log.warning("dashboard: %s sent %r, which this emulator does not know", self.peer, command)
        return f"could not understand: '{command}'"

    @staticmethod
    def _safety_word(safety: object) -> str:
        if getattr(safety, "emergency_stopped", False):
            return "ROBOT_EMERGENCY_STOP"
        if getattr(safety, "protective_stopped", False):
            return "PROTECTIVE_STOP"
        if getattr(safety, "safeguard_stopped", False):
            return "SAFEGUARD_STOP"
        return "NORMAL"

    def _program_state(self) -> str:
        arm = self._controller.arm
        return "PAUSED" if arm.program_paused else "PLAYING" if arm.script_running else "STOPPED"

    def _stop(self) -> str:
        self._controller.stop_program("dashboard stop")
        return "Stopped"

    def _pause(self) -> str:
        if not self._controller.arm.script_running:
            return "Failed to execute: pause"
        self._controller.inject("pause")
        return "Pausing program"

    def _unlock(self) -> str:
        self._controller.unlock_protective_stop()
        return "Protective stop releasing"


class DashboardServer(Listener):
    def __init__(self, controller: EmulatedController, host: str, port: int = DASHBOARD_PORT,
                 remote_control: bool = True) -> None:
        super().__init__("dashboard", host, port)
        self.controller = controller
        self.remote_control = remote_control

    def make_session(self, sock: socket.socket, address: tuple[str, int]) -> ClientSession:
        return DashboardSession(sock, address, self)
