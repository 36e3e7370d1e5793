"""The whole emulated controller on one loopback address: RTDE, script ports and dashboard."""

from __future__ import annotations

import logging
from types import TracebackType

from tactile_material_ros.robot.ur_emulator.controller import EmulatedController
from tactile_material_ros.robot.ur_emulator.dashboard import DASHBOARD_PORT, DashboardServer
from tactile_material_ros.robot.ur_emulator.listener import Listener
from tactile_material_ros.robot.ur_emulator.rtde import RTDE_PORT, RtdeServer
from tactile_material_ros.robot.ur_emulator.script_interface import SCRIPT_PORTS, ScriptServer
from tactile_material_ros.sim.scene import Scene

log = logging.getLogger(__name__)


def check_loopback(host: str) -> None:
    """The emulator serves on a loopback address only (127.x.y.z): it is no robot and must never look like one."""
    parts = host.split(".")
    if len(parts) != 4 or parts[0] != "127" or not all(p.isdigit() and 0 <= int(p) <= 255 for p in parts):
        raise ValueError(f"--host {host!r}: the emulator binds to a loopback address only, e.g. 127.0.0.1 or "
                         "127.0.0.2 (one per emulator, so that several run side by side)")


class UrEmulator:
    """An emulated UR controller backed by ``SimArm`` and a scene, on ``host``."""

    def __init__(self, scene: Scene, host: str = "127.0.0.1", model: str = "e_series", *,
                 script_start_delay_s: float = 0.3, speed_fraction: float = 1.0, tcp_offset_m: float = 0.06,
                 remote_control: bool = True, seed: int = 0) -> None:
        check_loopback(host)
        self.host = host
        self.controller = EmulatedController(scene, model, script_start_delay_s=script_start_delay_s,
                                             speed_fraction=speed_fraction, tcp_offset_m=tcp_offset_m, seed=seed)
        rtde = RtdeServer(self.controller, host, RTDE_PORT)
        self.controller.arm.watch_pending_input(rtde.inputs_waiting)
        self.servers: list[Listener] = [
            DashboardServer(self.controller, host, DASHBOARD_PORT, remote_control=remote_control),
            rtde,
            *(ScriptServer(self.controller, host, port) for port in SCRIPT_PORTS),
        ]

    def start(self) -> UrEmulator:
        self.controller.start()
        started: list[Listener] = []
        try:
            for server in self.servers:
                server.start()
                started.append(server)
        except OSError:
            for server in started:
                server.close()
            self.controller.stop()
            raise
        log.info("UR controller emulator (%s, controller %s) on %s", self.controller.model,
                 self.controller.version.text, self.host)
        return self

    def stop(self) -> None:
        for server in self.servers:
            server.close()
        self.controller.stop()

    def drop_link(self) -> None:
        """Close every client connection at once, as a pulled network cable does; the controller runs on."""
        log.warning("dropping every client connection (emulated lost link)")
        for server in self.servers:
            server.drop_clients()

    @property
    def clients(self) -> int:
        return sum(server.clients for server in self.servers)

    def __enter__(self) -> UrEmulator:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
