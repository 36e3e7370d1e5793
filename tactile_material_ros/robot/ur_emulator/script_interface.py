"""The controller's script ports (30003, and 30002 alike): where ur_rtde 1.6.5 sends its control script.

ur_rtde's ``ScriptClient`` connects to port 30003 and writes one program, ``def rtde_control():``
... ``end``, as plain text (version-tagged lines already removed for this controller's version and
the register offset filled in). This server does not interpret URScript: it collects a program up
to its closing top-level ``end``, recognises ur_rtde's control script by its name and its banner
``RTDE Control Script Loaded (<date>)``, reads the register offset it was given, and hands it to the
controller, which starts it after the start delay. Anything else (another program, a bare script
line, a control script of another ur_rtde release) is refused with an error that names it; nothing
runs.
"""

from __future__ import annotations

import logging
import re
import socket

from tactile_material_ros.robot.ur_emulator.controller import ControllerError, ControlScript, EmulatedController
from tactile_material_ros.robot.ur_emulator.listener import ClientSession, Listener

log = logging.getLogger(__name__)

SCRIPT_PORTS = (30003, 30002)
# the banner of the control script that ur_rtde 1.6.5 ships (also 1.5.8's): the register protocol served here
SUPPORTED_BANNERS = {"14.02.2024-12:23": "ur_rtde 1.6.5"}
BANNER = re.compile(r'RTDE Control Script Loaded \(([^)]*)\)')
OFFSET = re.compile(r"global reg_offset_int = (\d+)")
PROGRAM_START = re.compile(r"^def (\w+)\(\):", re.MULTILINE)
MAX_PROGRAM_BYTES = 1 << 20


def recognise(program: str) -> ControlScript:
    """ur_rtde's control script in ``program``; ``ControllerError`` says what it is instead and what to do."""
    start = PROGRAM_START.search(program)
    name = start.group(1) if start else None
    if name != "rtde_control":
        head = program.strip().splitlines()[0][:80] if program.strip() else "(empty)"
        raise ControllerError(f"the program {name or head!r} is not ur_rtde's control script (def rtde_control():); "
                              "this emulator does not interpret URScript and runs only that script")
    banner = BANNER.search(program)
    if banner is None:
        raise ControllerError("the rtde_control program has no 'RTDE Control Script Loaded (...)' banner: a custom "
                              "control script is not served; use the script that ur_rtde 1.6.5 ships")
    if banner.group(1) not in SUPPORTED_BANNERS:
        raise ControllerError(f"the control script is ur_rtde's of {banner.group(1)}, whose register protocol this "
                              f"emulator does not serve (it serves {', '.join(SUPPORTED_BANNERS.values())}, script of "
                              f"{', '.join(SUPPORTED_BANNERS)}); install ur_rtde==1.6.5")
    if re.search(r"^\$\d", program, re.MULTILINE):
        raise ControllerError("the control script still holds ur_rtde's $-version tags: it was not prepared for a "
                              "controller version; send it through ur_rtde's ScriptClient")
    offset = OFFSET.search(program)
    register_offset = int(offset.group(1)) if offset else 0
    if register_offset not in (0, 24):
        raise ControllerError(f"register offset {register_offset} in the control script: only 0 and 24 exist")
    return ControlScript(banner=banner.group(1), register_offset=register_offset)


def program_end(text: str) -> int | None:
    """Index just after the top-level ``end`` that closes the first ``def`` in ``text`` (None: incomplete)."""
    match = re.search(r"^end[ \t]*(?:\r?\n|$)", text, re.MULTILINE)
    return match.end() if match else None


class ScriptSession(ClientSession):
    def __init__(self, sock: socket.socket, address: tuple[str, int], server: ScriptServer) -> None:
        super().__init__(sock, address)
        self._controller = server.controller
        self.port = server.port

    def serve(self) -> None:
        buffer = ""
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                if buffer.strip():
                    log.error("script port %d: %s closed the connection in the middle of a program (%d bytes); "
                              "nothing runs", self.port, self.peer, len(buffer))
                return
            buffer += chunk.decode("utf-8", errors="replace")
            while buffer:
                stripped = buffer.lstrip()
                if not stripped:
                    buffer = ""
                    break
                if not stripped.startswith("def ") and not stripped.startswith("sec "):
                    line, _, rest = stripped.partition("\n")
                    if not _:
                        break                      # wait for the whole line
                    self._refuse(f"a bare script line {line.strip()[:80]!r}: this emulator does not interpret "
                                 "URScript")
                    buffer = rest
                    continue
                end = program_end(stripped)
                if end is None:
                    if len(stripped) > MAX_PROGRAM_BYTES:
                        self._refuse(f"a program of more than {MAX_PROGRAM_BYTES} bytes without its closing 'end'")
                        buffer = ""
                    break
                self._run(stripped[:end])
                buffer = stripped[end:]

    def _run(self, program: str) -> None:
        try:
            script = recognise(program)
        except ControllerError as exc:
            self._refuse(str(exc))
            return
        self._controller.run_script(script)

    def _refuse(self, message: str) -> None:
        full = f"script port {self.port} ({self.peer}): {message}; nothing runs"
        log.error("%s", full)
        self._controller.errors.append(full)


class ScriptServer(Listener):
    def __init__(self, controller: EmulatedController, host: str, port: int) -> None:
        super().__init__(f"script:{port}", host, port)
        self.controller = controller

    def make_session(self, sock: socket.socket, address: tuple[str, int]) -> ClientSession:
        return ScriptSession(sock, address, self)
